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


class DedupClient:
    """One channel to a newsdedup server. Methods raise grpc.RpcError."""

    def __init__(self, address, timeout=30.0):
        self._channel = grpc.insecure_channel(address)
        self._stub = dedup_pb2_grpc.DedupServiceStub(self._channel)
        self._timeout = timeout

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
        return self._stub.Assign(dedup_pb2.AssignRequest(article=article),
                                 timeout=self._timeout)

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
        return self._stub.GetCluster(
            dedup_pb2.GetClusterRequest(cluster_id=cluster_id,
                                        page_size=page_size,
                                        page_token=page_token),
            timeout=self._timeout)

    def list_clusters(self, page_size=50, by_last_update=False, page_token=""):
        sort = (dedup_pb2.ListClustersRequest.LAST_UPDATE if by_last_update
                else dedup_pb2.ListClustersRequest.SIZE)
        return self._stub.ListClusters(
            dedup_pb2.ListClustersRequest(sort_by=sort, page_size=page_size,
                                          page_token=page_token),
            timeout=self._timeout)

    def get_article(self, article_id):
        return self._stub.GetArticle(
            dedup_pb2.GetArticleRequest(article_id=article_id),
            timeout=self._timeout).assignment

    def find_similar(self, article, k=10):
        if isinstance(article, dict):
            article = article_from_dict(article)
        return self._stub.FindSimilar(
            dedup_pb2.FindSimilarRequest(article=article, k=k),
            timeout=self._timeout)

    def delete_article(self, article_id):
        self._stub.DeleteArticle(
            dedup_pb2.DeleteArticleRequest(article_id=article_id),
            timeout=self._timeout)
