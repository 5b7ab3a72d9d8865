"""Test guest `python_hostile`: a Python close step that misbehaves in the way its
configuration names, so the host's end-to-end tests can check that the sandbox contains a
componentize-py component as it contains a Rust one (tests/guests/*):

- `{"attempt": "files"}` tries to read, list and create files and reports each result;
- `{"attempt": "environment"}` reports the environment variables and arguments it sees;
- `{"attempt": "network"}` opens a TCP connection (the sandbox's socket stubs trap);
- `{"attempt": "loop"}` loops forever (fuel or wall time ends it).
"""

import json
import os
import socket
import sys

import wit_world
from wit_world.imports import types


def attempt(label, action):
    """Runs one attempt and says how it ended."""
    try:
        return f"{label}: succeeded: {action()!r}"
    except OSError as error:
        return f"{label}: failed: {type(error).__name__}: {error}"


def create_file():
    with open("/tmp/closebook-escape", "w") as file:
        file.write("x")


def read_file(path):
    with open(path) as file:
        return file.read()


def report_files():
    return [
        attempt("read /etc/passwd", lambda: read_file("/etc/passwd")),
        attempt("read app.py", lambda: read_file("app.py")),
        attempt("list /", lambda: len(os.listdir("/"))),
        attempt("list .", lambda: len(os.listdir("."))),
        attempt("create /tmp/closebook-escape", create_file),
    ]


def report_environment():
    return [f"environment: {sorted(os.environ.items())!r}", f"arguments: {sys.argv[1:]!r}"]


def connect():
    # A numeric address, so that no name lookup (which needs the idna codec) comes first.
    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    connection.connect(("127.0.0.1", 9))
    connection.close()
    return ["connected"]


def loop_forever():
    count = 0
    while True:
        count += 1


class WitWorld(wit_world.WitWorld):
    def describe(self):
        return types.StepInfo(
            name="python-hostile", version="0.1.0", summary="Misbehaves as configured.", config_schema="{}"
        )

    def run(self, input):
        config = json.loads(input.config)
        texts = {
            "files": report_files,
            "environment": report_environment,
            "network": connect,
            "loop": loop_forever,
        }[config["attempt"]]()
        return types.StepOutput(
            entries=[],
            settlements=[],
            messages=[types.Message(level=types.Level.INFO, text=text) for text in texts],
        )
