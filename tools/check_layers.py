#!/usr/bin/env python3
"""Fails when a lower layer of the service includes a higher one.

The layers, lowest first (services/CMakeLists.txt says what each holds):

    common/ embeddings/            shared helpers, the text embedder
    services/index/                nearest-neighbour search
    services/replication/          the change log and checkpoint shelf
    services/engine/               story decisions
    services/storage/              the engine's RocksDB store
    services/api/                  the API's messages, shared reads/edits
    services/replica/              an engine replicated through the log
    services/server/               gRPC and HTTP servers, access, metrics

A source file may include headers of its own layer and of the layers
before it. Tests (*_test.cc) may include any layer: they assemble what
they test. Files outside these folders (tools/, bench/, tests/) sit on
top and may include anything.

usage: check_layers.py [ROOT]     check the tree at ROOT (default: ..)
       check_layers.py --self-test  show that a planted include fails"""
import os
import re
import sys
import tempfile

LAYERS = [
    ("common/", "embeddings/"),
    ("services/index/",),
    ("services/replication/",),
    ("services/engine/",),
    ("services/storage/",),
    ("services/api/",),
    ("services/replica/",),
    ("services/server/",),
]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def rank(path):
    """The layer of a repository path, or None outside the layers."""
    for i, prefixes in enumerate(LAYERS):
        if path.startswith(prefixes):
            return i
    return None


def violations(root):
    """(file, line, included header) for each include of a higher layer."""
    found = []
    for top in ("common", "embeddings", "services"):
        for directory, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if not name.endswith((".h", ".cc")) or name.endswith("_test.cc"):
                    continue
                path = os.path.relpath(os.path.join(directory, name), root)
                own = rank(path)
                if own is None:
                    continue
                with open(os.path.join(root, path), encoding="utf-8") as f:
                    text = f.read()
                for m in INCLUDE.finditer(text):
                    other = rank(m.group(1))
                    if other is not None and other > own:
                        line = text.count("\n", 0, m.start()) + 1
                        found.append((path, line, m.group(1)))
    return found


def self_test():
    """A tree with one allowed and one planted include: only the planted
    one is reported."""
    with tempfile.TemporaryDirectory() as root:
        files = {
            "services/engine/engine.h": '#include "services/index/vector_index.h"\n',
            "services/index/vector_index.h":
                '// planted\n#include "services/server/dedup_server.h"\n',
            "services/index/vector_index_test.cc":
                '#include "services/server/dedup_server.h"\n',
            "services/server/dedup_server.h": '#include "services/engine/engine.h"\n',
        }
        for path, text in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(root, path), "w", encoding="utf-8") as f:
                f.write(text)
        found = violations(root)
        expected = [("services/index/vector_index.h", 2,
                     "services/server/dedup_server.h")]
        if found != expected:
            print(f"self-test FAILED: found {found}, expected {expected}")
            return 1
    print("self-test passed: the planted include was the only one reported")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) > 2 or argv[1:2] in (["-h"], ["--help"]):
        print(__doc__)
        return 0 if argv[1:2] in (["-h"], ["--help"]) else 2
    root = argv[1] if len(argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..")
    found = violations(root)
    for path, line, header in found:
        print(f"{path}:{line}: includes {header}, a higher layer")
    if found:
        print(f"{len(found)} include(s) against the layers "
              "(tools/check_layers.py says which may include which)")
        return 1
    print("layers: no include from a lower layer to a higher one")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
