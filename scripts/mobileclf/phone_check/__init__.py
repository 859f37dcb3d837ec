"""The phone check: a static page (built by rule ``phone_check``) that runs the deployed
bundle in a phone's browser with MediaPipe Tasks for web, a holdout sheet to point the
camera at, the HTTPS server that hands the page to the phone and takes its results back,
and the measured runs fed into the report (docs/phone-check.md)."""
