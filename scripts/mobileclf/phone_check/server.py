"""Serve results/{dataset}/phone_check/page/ to a phone over HTTPS and take its results.

A phone's browser opens the camera only in a secure context, so the page is served over
HTTPS with a self-signed certificate made for this results folder (kept in
phone_check/server/; the phone must accept it once, docs/phone-check.md). The default
bind is 127.0.0.1; the local network only with ``--lan``.

Results come back as ``POST /measured?token=...`` with a per-session random token (in the
URL the server prints, so only whoever opened that URL can post): a wrong token is 403, a
body over :data:`MAX_BODY` 413, malformed or schema-invalid JSON 400
(:func:`mobileclf.phone_check.measured.validate_run`), any other method or path 405/404.
Each accepted run is a new file under phone_check/measured/ whose name no other request
can take (timestamp + random suffix, written to a temporary file and moved into place), so
concurrent posts lose nothing and nothing is written anywhere else.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import secrets
import socket
import subprocess
import threading
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

from mobileclf import atomic
from mobileclf.errors import UserError
from mobileclf.phone_check.measured import MeasuredRunError, validate_run

MAX_BODY = 1 << 20  # 1 MiB: 10 000 results fit in a third of it


class ServeError(UserError):
    """The folder cannot be served (no page built yet, no openssl)."""


def lan_address() -> str:
    """This machine's address on the local network (the interface of the default route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
        except OSError as error:
            raise ServeError(
                f"no network to serve the phone on ({error}); connect this computer to the "
                "phone's network, or serve this computer only (without --lan)"
            ) from None
        return probe.getsockname()[0]


def certificate(folder: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, 127.0.0.1 and ``host``, made once per
    results folder and host (kept in phone_check/server/), with openssl."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key, names = folder / "cert.pem", folder / "key.pem", folder / "names.json"
    alt = ["DNS:localhost", "IP:127.0.0.1"]
    if host not in ("127.0.0.1", "localhost", "0.0.0.0"):
        kind = "IP" if _is_ip(host) else "DNS"
        alt.append(f"{kind}:{host}")
    if cert.exists() and key.exists() and names.exists() and json.loads(names.read_text()) == alt:
        return cert, key
    command = [
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
        "-keyout", str(key), "-out", str(cert),
        "-subj", f"/CN=mobileclf phone check {folder.parent.parent.name}",
        "-addext", "subjectAltName=" + ",".join(alt),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise ServeError(f"openssl could not make {cert} ({error}); install openssl") from None
    names.write_text(json.dumps(alt))
    return cert, key


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Handler(SimpleHTTPRequestHandler):
    """Static files of the page; ``POST /measured`` only, checked as the module says."""

    token: str = ""
    measured: Path = Path()
    page: ClassVar[dict] = {}
    requests: ClassVar[list[str]] = []  # "METHOD path status" of every request, for the tests

    def log_request(self, code="-", size="-"):
        self.requests.append(f"{self.command} {self.path} {int(code) if code != '-' else code}")

    def log_message(self, format, *args):
        pass  # log_request keeps the list; the terminal shows only the URL and errors

    def _reply(self, status: HTTPStatus, message: str) -> None:
        body = (message + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        url = urlsplit(self.path)
        if url.path != "/measured":
            return self._reply(HTTPStatus.NOT_FOUND, "only POST /measured is accepted")
        token = parse_qs(url.query).get("token", [""])[0]
        if not secrets.compare_digest(token.encode(), self.token.encode()):
            return self._reply(HTTPStatus.FORBIDDEN, "wrong token: open the URL the server printed")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._reply(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        if length > MAX_BODY:
            self.close_connection = True
            if length <= 8 * MAX_BODY:  # read it, so the client sees the answer, not a reset
                self.rfile.read(length)
            return self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"over {MAX_BODY} bytes")
        try:
            run = validate_run(json.loads(self.rfile.read(length)), self.page)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return self._reply(HTTPStatus.BAD_REQUEST, f"not JSON: {error}")
        except MeasuredRunError as error:
            return self._reply(HTTPStatus.BAD_REQUEST, str(error))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        name = f"{stamp}-{run['mode']}-{run['variant']}-{secrets.token_hex(4)}.json"
        atomic.write_json(self.measured / name, run)
        return self._reply(HTTPStatus.CREATED, f"saved {name}")

    def _refuse(self):
        self._reply(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and POST /measured")

    do_PUT = do_DELETE = do_PATCH = _refuse


def make_server(phone_check: Path, host: str, port: int, token: str) -> ThreadingHTTPServer:
    """The HTTPS server for ``phone_check`` (results/{dataset}/phone_check), not started."""
    import ssl

    page_dir = phone_check / "page"
    if not (page_dir / "config.json").is_file():
        raise ServeError(f"{page_dir} has no built page: run the workflow first (rule phone_check)")
    handler = type(
        "PhoneCheckHandler",
        (Handler,),
        {
            "token": token,
            "measured": phone_check / "measured",
            "page": json.loads((page_dir / "config.json").read_text()),
            "requests": [],
        },
    )
    server = ThreadingHTTPServer((host, port), functools.partial(handler, directory=page_dir))
    server.handler = handler
    cert, key = certificate(phone_check / "server", lan_address() if host == "0.0.0.0" else host)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def serve(args) -> None:
    """``args`` are scripts/serve_phone_check.py's flags: serve until Ctrl-C."""
    import segno

    host = "0.0.0.0" if args.lan else args.host
    token = secrets.token_urlsafe(16)
    server = make_server(Path(args.results) / "phone_check", host, args.port, token)
    shown = lan_address() if args.lan else host
    url = f"https://{shown}:{server.server_address[1]}/?token={token}"
    print(f"phone check of {args.results}: open\n\n  {url}\n")
    segno.make(url, error="l").terminal(compact=True)
    print("Accept the certificate warning once (docs/phone-check.md), then allow the camera.")
    if not args.lan:
        print("Only this computer can open it; pass --lan to serve the phone on your network.")
    print(f"Results go to {server.handler.measured}/; Ctrl-C stops.", flush=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
