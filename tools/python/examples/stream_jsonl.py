#!/usr/bin/env python3
"""Streams a JSONL file of articles to a newsdedup server and prints one
JSON answer per line (what an ingest pipeline does).

usage: stream_jsonl.py [--server HOST:PORT] FILE|-

Bad JSON lines are reported on stderr and skipped; articles the server
rejects are reported on stderr with the server's message. Exit code 3 if
anything was rejected.
"""
import argparse
import json
import sys

from google.protobuf import json_format

from newsdedup_client import DedupClient


def read_articles(stream, bad):
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as e:
            bad.append(number)
            print(f"line {number}: malformed JSON: {e}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="JSONL file, or - for stdin")
    parser.add_argument("--server", default="127.0.0.1:50051")
    args = parser.parse_args()
    source = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    bad, rejected, answered = [], 0, 0
    with DedupClient(args.server) as client:
        for response in client.assign_stream(read_articles(source, bad)):
            if response.result.HasField("error"):
                rejected += 1
                print(f"article {response.article_id}: "
                      f"{response.result.error.message}", file=sys.stderr)
                continue
            answered += 1
            print(json_format.MessageToJson(response.result.answer,
                                            indent=None,
                                            preserving_proto_field_name=True))
    print(f"stream_jsonl: {answered} answered, {rejected + len(bad)} rejected",
          file=sys.stderr)
    return 3 if rejected or bad else 0


if __name__ == "__main__":
    sys.exit(main())
