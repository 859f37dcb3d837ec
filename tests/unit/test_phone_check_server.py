"""The phone check's HTTPS server (mobileclf.phone_check.server): what it refuses, and that
what it accepts lands only in phone_check/measured/, nothing lost under concurrent posts."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mobileclf.phone_check.measured import FORMAT, measured_rows
from mobileclf.phone_check.server import MAX_BODY, make_server

TOKEN = "right-token"
PAGE = {
    "dataset": "tiny",
    "labels": ["lesion", "normal"],
    "variants": {"int8": {}, "float32": {}},
    "holdout": [{"id": "H01", "truth": "lesion"}, {"id": "H02", "truth": "normal"}],
}


def run(**changes) -> dict:
    body = {
        "format": FORMAT,
        "dataset": "tiny",
        "device": "Mozilla/5.0 (Linux; Android 14) Chrome/131",
        "mode": "camera",
        "variant": "int8",
        "results": [
            {
                "id": "H01",
                "truth": "lesion",
                "prediction": "normal",
                "confidence": 0.61,
                "timestamp": "2026-12-04T17:00:00Z",
            },
            {
                "id": "H02",
                "truth": "normal",
                "prediction": "normal",
                "confidence": 0.9,
                "timestamp": "2026-12-04T17:00:02Z",
            },
        ],
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module (its certificate costs a second to make); each test
    compares the folder before and after."""
    phone_check = tmp_path_factory.mktemp("served") / "results" / "tiny" / "phone_check"
    (phone_check / "page").mkdir(parents=True)
    (phone_check / "page" / "config.json").write_text(json.dumps(PAGE))
    (phone_check / "page" / "index.html").write_text("<!doctype html><title>page</title>")
    server = make_server(phone_check, "127.0.0.1", 0, TOKEN)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, phone_check
    server.shutdown()
    server.server_close()


def request(server, method: str, path: str, body: bytes | None = None, headers=None):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection(
        "127.0.0.1", server.server_address[1], context=context, timeout=30
    )
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    result = response.status, response.read().decode()
    connection.close()
    return result


def post(server, body, token: str = TOKEN) -> tuple[int, str]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request(server, "POST", f"/measured?token={token}", data)


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_serves_the_page_and_takes_a_valid_run(server):
    server, phone_check = server
    assert request(server, "GET", "/index.html") == (200, "<!doctype html><title>page</title>")
    status, text = post(server, run())
    assert status == 201, text
    saved = phone_check / "measured" / text.split()[-1]
    assert json.loads(saved.read_text()) == run()
    rows = measured_rows([str(saved)], PAGE)
    assert [(r["id"], r["correct"]) for r in rows] == [("H01", False), ("H02", True)]


@pytest.mark.parametrize(
    ("token", "body", "status"),
    [
        ("wrong-token", run(), 403),
        ("", run(), 403),
        (TOKEN, b"{not json", 400),
        (TOKEN, b"\xff\xfe", 400),
        (TOKEN, [1, 2], 400),
        (TOKEN, run(format="other/1"), 400),
        (TOKEN, run(mode="video"), 400),
        (TOKEN, run(variant="float64"), 400),
        (TOKEN, run(dataset="other"), 400),
        (TOKEN, run(results=[]), 400),
        (TOKEN, run(extra=1), 400),
        # an image scored under another image's class, an unknown id, a label not in the
        # model, a confidence outside 0..1, a missing field
        (TOKEN, run(results=[{**run()["results"][0], "truth": "normal"}]), 400),
        (TOKEN, run(results=[{**run()["results"][0], "id": "../../x"}]), 400),
        (TOKEN, run(results=[{**run()["results"][0], "prediction": "cat"}]), 400),
        (TOKEN, run(results=[{**run()["results"][0], "confidence": 1.5}]), 400),
        (TOKEN, run(results=[{**run()["results"][0], "confidence": True}]), 400),
        (TOKEN, run(results=[{"id": "H01", "truth": "lesion"}]), 400),
    ],
)
def test_refuses_and_writes_nothing(server, token, body, status):
    server, phone_check = server
    before = files_under(phone_check)
    answer, text = post(server, body, token)
    assert answer == status, text
    assert files_under(phone_check) == before


def test_refuses_oversize_other_paths_and_methods(server):
    server, phone_check = server
    before = files_under(phone_check)
    padded = json.dumps(run(device="x" * 400)).encode()
    oversize = padded[:-1] + b" " * (MAX_BODY + 1 - len(padded)) + b"}"
    assert post(server, oversize)[0] == 413
    assert post(server, run(), TOKEN)[0] == 201  # the server still answers after a refusal
    after_one = files_under(phone_check)
    assert request(server, "POST", f"/measured/../page/x?token={TOKEN}", b"{}")[0] == 404
    assert request(server, "POST", f"/index.html?token={TOKEN}", b"{}")[0] == 404
    assert request(server, "PUT", f"/measured?token={TOKEN}", b"{}")[0] == 405
    assert request(server, "DELETE", "/index.html")[0] == 405
    assert files_under(phone_check) == after_one
    new = after_one - before
    assert len([n for n in new if n.endswith(".json")]) == 1
    assert all(n.startswith(("measured", "server")) for n in new)


def test_concurrent_posts_lose_nothing(server):
    server, phone_check = server
    bodies = [run(device=f"phone {i}") for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda body: post(server, body)[0], bodies))
    assert answers == [201] * len(bodies)
    saved = [json.loads(p.read_text()) for p in (phone_check / "measured").glob("*.json")]
    devices = [s["device"] for s in saved if s["device"].startswith("phone ")]
    assert sorted(devices) == sorted(b["device"] for b in bodies)
