#!/usr/bin/env python3
"""Keeps a downstream copy of the stories up to date from the change feed
(what a search index or a newsletter builder does), resuming exactly where
it stopped: the last cursor processed is saved after each event.

usage: follow_stories.py [--server HOST:PORT] [--state FILE] [--max-events N]

Prints one line per event. A cursor older than the feed keeps (the
consumer was away too long) resyncs: the story list is read again, and
the feed followed from the cursor the list names.
"""
import argparse
import os
import sys
import time

import grpc
from google.protobuf import json_format

from newsdedup_client import DedupClient, DedupError


def load_cursor(path):
    try:
        with open(path, encoding="utf-8") as f:
            return int(f.read().strip() or 0)
    except FileNotFoundError:
        return 0


def save_cursor(path, cursor):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(cursor))
    os.replace(path + ".tmp", path)  # atomic: never a half-written cursor


def resync(client):
    """Reads every story again; returns the cursor to follow from."""
    page_token, cursor = "", None
    while True:
        page = client.list_clusters(page_size=1000, page_token=page_token)
        if cursor is None:
            cursor = page.feed_cursor  # the list reflects events up to it
        for story in page.clusters:
            print(f"story {story.cluster_id}: {story.size} articles")
        if not page.next_page_token:
            return cursor
        page_token = page.next_page_token


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--state", default="follow_stories.cursor")
    parser.add_argument("--max-events", type=int, default=0,
                        help="stop after this many (0: follow until killed)")
    args = parser.parse_args()
    cursor, seen = load_cursor(args.state), 0
    with DedupClient(args.server) as client:
        while True:
            try:
                for event in client.watch_events(after_cursor=cursor):
                    print(json_format.MessageToJson(
                        event, indent=None, preserving_proto_field_name=True))
                    cursor = event.cursor
                    save_cursor(args.state, cursor)
                    seen += 1
                    if args.max_events and seen >= args.max_events:
                        return 0
            except DedupError as error:
                if error.code() == grpc.StatusCode.OUT_OF_RANGE:
                    cursor = resync(client)
                    save_cursor(args.state, cursor)
                elif error.code() == grpc.StatusCode.UNAVAILABLE:
                    print(f"server unavailable; resuming after {cursor}",
                          file=sys.stderr)
                    time.sleep(1)
                else:
                    raise


if __name__ == "__main__":
    sys.exit(main())
