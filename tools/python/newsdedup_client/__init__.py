"""Python client for the newsdedup gRPC service (newsdedup.v1.DedupService).

    from newsdedup_client import DedupClient
    with DedupClient("127.0.0.1:50051") as client:
        answer = client.assign({"id": "a1", "title": "Summit on hold"})
        print(answer.cluster_id, answer.relation)

The message classes are generated from protos/newsdedup/v1/dedup.proto at
build time; `cmake --build build --target python_package` assembles an
installable package in build/python-package (see README.md).
"""
from .client import DedupClient, DedupError, article_from_dict  # noqa: F401
