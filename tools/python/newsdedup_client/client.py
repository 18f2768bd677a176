"""A thin, typed wrapper around the generated DedupService stub."""
import os

import grpc

from newsdedup.v1 import dedup_pb2, dedup_pb2_grpc

Relation = dedup_pb2.Relation


def article_from_dict(d):
    """Builds an Article message from a JSONL-style dict.

    Keys as in the command-line tool: id, title, text (or body), url, source,
    language, published (RFC 3339, e.g. "2014-03-10T16:55:01Z"; empty or
    missing means unknown). Unknown keys (labels) are ignored.
    """
    article = dedup_pb2.Article(
        id=str(d.get("id", "")),
        title=d.get("title") or "",
        body=d.get("text") or d.get("body") or "",
        url=d.get("url") or "",
        source=d.get("source") or "",
        language=d.get("language") or "",
    )
    published = d.get("published") or ""
    if published:
        if len(published) == 10:  # a plain date
            published += "T00:00:00Z"
        article.published.FromJsonString(published)
    return article


def _health_request(service):
    """grpc.health.v1.HealthCheckRequest{service}, encoded by hand: Debian
    packages no grpc_health module, and the message has one string."""
    data = service.encode()
    if not data:
        return b""
    if len(data) > 127:
        raise ValueError("service name too long")
    return b"\x0a" + bytes([len(data)]) + data


_HEALTH_NAMES = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"]


def _health_status(data):
    """The status of a grpc.health.v1.HealthCheckResponse (field 1)."""
    if len(data) >= 2 and data[0] == 0x08 and data[1] < len(_HEALTH_NAMES):
        return _HEALTH_NAMES[data[1]]
    return "UNKNOWN"


def _pem(value):
    """PEM bytes from bytes, or from the file a str names."""
    if isinstance(value, bytes):
        return value
    with open(value, "rb") as f:
        return f.read()


# Consistency metadata of a replicated service (docs/replication.md).
APPLIED_SEQUENCE_KEY = "x-newsdedup-applied-sequence"
MIN_SEQUENCE_KEY = "x-newsdedup-min-sequence"


class DedupError(grpc.RpcError):
    """A call the server refused, or that could not reach it.

    code() is its grpc.StatusCode (INVALID_ARGUMENT: the request is wrong,
    NOT_FOUND, UNAUTHENTICATED / PERMISSION_DENIED: the token, UNAVAILABLE:
    retry, ...) and details() the server's message, as on grpc.RpcError,
    which it subclasses: `except grpc.RpcError` still catches it.
    """

    def __init__(self, code, details):
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details

    def code(self):
        return self._code

    def details(self):
        return self._details

    @classmethod
    def from_rpc_error(cls, error):
        code = error.code() if hasattr(error, "code") else None
        details = error.details() if hasattr(error, "details") else str(error)
        return cls(code or grpc.StatusCode.UNKNOWN, details or "")


def _raising_dedup_errors(responses):
    """The responses of a streaming call, its failure as a DedupError."""
    try:
        yield from responses
    except DedupError:
        raise
    except grpc.RpcError as error:
        raise DedupError.from_rpc_error(error) from error


class DedupClient:
    """One channel to a newsdedup server.

    Methods return the protobuf messages of protos/newsdedup/v1/dedup.proto
    (AssignResponse, GetClusterResponse, ...; their fields are documented
    there) and raise DedupError when a call fails.

    Against replicas of a replicated service the client reads its own
    writes: it remembers the newest change-log entry any answer said was
    applied (`applied_sequence`) and asks every later call to wait for it,
    so a read through another replica sees what this client wrote. Pass
    read_your_writes=False to read whatever a replica has.
    """

    def __init__(self, address, timeout=30.0, read_your_writes=True,
                 token=None, tls_ca=None, tls_cert=None, tls_key=None):
        """token: the bearer token of a server started with --auth-tokens
        (default: the NEWSDEDUP_TOKEN environment variable). tls_ca: PEM
        bytes or a file name of the CA to trust; connects over TLS.
        tls_cert/tls_key: a client certificate for mutual TLS."""
        if tls_ca is not None:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_pem(tls_ca),
                private_key=_pem(tls_key) if tls_key else None,
                certificate_chain=_pem(tls_cert) if tls_cert else None)
            self._channel = grpc.secure_channel(address, credentials)
        else:
            self._channel = grpc.insecure_channel(address)
        self._stub = dedup_pb2_grpc.DedupServiceStub(self._channel)
        self._timeout = timeout
        self._read_your_writes = read_your_writes
        token = token if token is not None else os.environ.get(
            "NEWSDEDUP_TOKEN", "")
        # Per call, not as call credentials: gRPC refuses those on a
        # plaintext channel, and a loopback server with tokens is one.
        self._auth = (("authorization", "Bearer " + token),) if token else ()
        self.applied_sequence = 0

    def _unary(self, method, request):
        metadata = self._auth
        if self._read_your_writes and self.applied_sequence > 0:
            metadata += ((MIN_SEQUENCE_KEY, str(self.applied_sequence)),)
        try:
            response, call = method.with_call(
                request, timeout=self._timeout, metadata=metadata)
        except grpc.RpcError as error:
            raise DedupError.from_rpc_error(error) from error
        for key, value in call.initial_metadata() or ():
            if key == APPLIED_SEQUENCE_KEY:
                self.applied_sequence = max(self.applied_sequence, int(value))
        return response

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def assign(self, article):
        """Assigns one article (a dict or an Article message)."""
        if isinstance(article, dict):
            article = article_from_dict(article)
        return self._unary(self._stub.Assign,
                           dedup_pb2.AssignRequest(article=article))

    def assign_stream(self, articles):
        """Streams articles (dicts or messages) through AssignStream.

        Yields one AssignStreamResponse per article, in order; a rejected
        article yields a response whose result carries an error.
        """
        def requests():
            for a in articles:
                if isinstance(a, dict):
                    a = article_from_dict(a)
                yield dedup_pb2.AssignRequest(article=a)
        return _raising_dedup_errors(
            self._stub.AssignStream(requests(), metadata=self._auth))

    def watch_events(self, after_cursor=0, kinds=(), collection=""):
        """Follows the change feed (WatchClusterEvents).

        Yields ClusterChangeEvent messages in cursor order, from after
        `after_cursor` (0: the oldest event kept), and goes on as new ones
        happen until the caller stops iterating or the server stops
        (DedupError UNAVAILABLE: watch again after the last cursor seen).
        `kinds`: names ("MERGED") or ClusterChangeEvent.Kind values; an
        OUT_OF_RANGE DedupError means the cursor is older than the feed
        keeps: resync from list_clusters(), whose feed_cursor is where to
        watch from.
        """
        Kind = dedup_pb2.ClusterChangeEvent.Kind
        request = dedup_pb2.WatchClusterEventsRequest(
            after_cursor=after_cursor, collection=collection,
            kinds=[Kind.Value(k) if isinstance(k, str) else k for k in kinds])
        return _raising_dedup_errors(
            self._stub.WatchClusterEvents(request, metadata=self._auth))

    def get_cluster(self, cluster_id, page_size=50, page_token=""):
        return self._unary(self._stub.GetCluster, dedup_pb2.GetClusterRequest(
            cluster_id=cluster_id, page_size=page_size,
            page_token=page_token))

    def assign_batch(self, articles):
        """Assigns articles (dicts or messages) in one AssignBatch call.

        Returns one AssignResult per article, in order: `answer` or
        `error` (a bad article does not fail the others).
        """
        request = dedup_pb2.AssignBatchRequest(articles=[
            article_from_dict(a) if isinstance(a, dict) else a
            for a in articles])
        return list(self._unary(self._stub.AssignBatch, request).results)

    _SORTS = {
        "size": dedup_pb2.ListClustersRequest.SIZE,
        "last-update": dedup_pb2.ListClustersRequest.LAST_UPDATE,
        "growth": dedup_pb2.ListClustersRequest.RECENT_GROWTH,
    }

    def list_clusters(self, sort="size", page_size=50, page_token="",
                      updated_since=None, include_expired=False):
        """One page of clusters (ListClustersResponse).

        sort: "size", "last-update" or "growth" (most articles in the last
        24 hours), as the HTTP API spells them; updated_since: a datetime or an RFC 3339 string; pass
        the response's next_page_token as page_token for the next page.
        """
        if sort not in self._SORTS:
            raise ValueError("sort must be one of " + ", ".join(self._SORTS))
        request = dedup_pb2.ListClustersRequest(
            sort_by=self._SORTS[sort], page_size=page_size,
            page_token=page_token, include_expired=include_expired)
        if updated_since is not None:
            if isinstance(updated_since, str):
                request.updated_since.FromJsonString(updated_since)
            else:
                request.updated_since.FromDatetime(updated_since)
        return self._unary(self._stub.ListClusters, request)

    def health(self, service=""):
        """The server's health (grpc.health.v1): "SERVING", "NOT_SERVING",
        "UNKNOWN" or "SERVICE_UNKNOWN". Raises DedupError when the
        server cannot be reached."""
        check = self._channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=_health_request,
            response_deserializer=_health_status)
        try:
            return check(service, timeout=self._timeout, metadata=self._auth)
        except grpc.RpcError as error:
            # The protocol answers NOT_FOUND for a service it does not know.
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            raise DedupError.from_rpc_error(error) from error

    def get_article(self, article_id):
        return self._unary(
            self._stub.GetArticle,
            dedup_pb2.GetArticleRequest(article_id=article_id)).assignment

    def find_similar(self, article, k=10):
        if isinstance(article, dict):
            article = article_from_dict(article)
        return self._unary(self._stub.FindSimilar,
                           dedup_pb2.FindSimilarRequest(article=article, k=k))

    def delete_article(self, article_id):
        self._unary(self._stub.DeleteArticle,
                    dedup_pb2.DeleteArticleRequest(article_id=article_id))

    # Editorial actions (role `edit`; docs/editorial.md). Each needs a
    # reason, returns an EditResponse (the cluster the action left its
    # articles in, with its history) and raises grpc.RpcError when refused
    # (nothing changed then).

    def merge_clusters(self, cluster_id, into_cluster_id, reason):
        """Merges cluster_id into into_cluster_id, whose id stays."""
        return self._unary(self._stub.MergeClusters,
                           dedup_pb2.MergeClustersRequest(
                               cluster_id=cluster_id,
                               into_cluster_id=into_cluster_id,
                               reason=reason))

    def split_cluster(self, cluster_id, article_ids, reason):
        """Moves the named members to a new cluster, kept apart."""
        return self._unary(self._stub.SplitCluster,
                           dedup_pb2.SplitClusterRequest(
                               cluster_id=cluster_id,
                               article_ids=list(article_ids), reason=reason))

    def move_article(self, article_id, to_cluster_id, reason):
        return self._unary(self._stub.MoveArticle,
                           dedup_pb2.MoveArticleRequest(
                               article_id=article_id,
                               to_cluster_id=to_cluster_id, reason=reason))

    def pin_representative(self, cluster_id, article_id, reason):
        return self._unary(self._stub.PinRepresentative,
                           dedup_pb2.PinRepresentativeRequest(
                               cluster_id=cluster_id, article_id=article_id,
                               reason=reason))

    def unpin_representative(self, cluster_id, reason):
        return self._unary(self._stub.PinRepresentative,
                           dedup_pb2.PinRepresentativeRequest(
                               cluster_id=cluster_id, unpin=True,
                               reason=reason))

    def keep_apart(self, cluster_id, other_cluster_id, reason):
        """The two clusters never merge (automatically or by an editor)."""
        return self._unary(self._stub.KeepApart, dedup_pb2.KeepApartRequest(
            cluster_id=cluster_id, other_cluster_id=other_cluster_id,
            reason=reason))

    def allow_merging(self, cluster_id, other_cluster_id, reason):
        """Undoes keep_apart."""
        return self._unary(self._stub.KeepApart, dedup_pb2.KeepApartRequest(
            cluster_id=cluster_id, other_cluster_id=other_cluster_id,
            undo=True, reason=reason))
