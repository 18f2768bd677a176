"""A thin, typed wrapper around the generated DedupService stub."""
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


# Consistency metadata of a replicated service (docs/replication.md).
APPLIED_SEQUENCE_KEY = "x-newsdedup-applied-sequence"
MIN_SEQUENCE_KEY = "x-newsdedup-min-sequence"


class DedupClient:
    """One channel to a newsdedup server. Methods raise grpc.RpcError.

    Against replicas of a replicated service the client reads its own
    writes: it remembers the newest change-log entry any answer said was
    applied (`applied_sequence`) and asks every later call to wait for it,
    so a read through another replica sees what this client wrote. Pass
    read_your_writes=False to read whatever a replica has.
    """

    def __init__(self, address, timeout=30.0, read_your_writes=True):
        self._channel = grpc.insecure_channel(address)
        self._stub = dedup_pb2_grpc.DedupServiceStub(self._channel)
        self._timeout = timeout
        self._read_your_writes = read_your_writes
        self.applied_sequence = 0

    def _unary(self, method, request):
        metadata = ()
        if self._read_your_writes and self.applied_sequence > 0:
            metadata = ((MIN_SEQUENCE_KEY, str(self.applied_sequence)),)
        response, call = method.with_call(request, timeout=self._timeout,
                                          metadata=metadata)
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
        return self._stub.AssignStream(requests())

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
        "UNKNOWN" or "SERVICE_UNKNOWN". Raises grpc.RpcError when the
        server cannot be reached."""
        check = self._channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=_health_request,
            response_deserializer=_health_status)
        try:
            return check(service, timeout=self._timeout)
        except grpc.RpcError as error:
            # The protocol answers NOT_FOUND for a service it does not know.
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            raise

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
