#include "services/api/article_intake.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace newsdedup {

absl::Status ArticleIntake::Assign(const v1::AssignRequest& request,
                                   v1::AssignResponse* response) {
  if (!request.has_article()) {
    return absl::InvalidArgumentError("article: required");
  }
  ASSIGN_OR_RETURN(const Article article,
                   FromProto(request.article(), limits_));
  absl::StatusOr<Assignment> answer = engine_->Assign(article);
  if (!answer.ok()) return InArticle(answer.status());
  ToProto(*answer, response);
  return absl::OkStatus();
}

v1::AssignStreamResponse ArticleIntake::AssignStreamed(
    const absl::StatusOr<v1::AssignRequest>& parsed, absl::string_view id) {
  v1::AssignStreamResponse response;
  v1::AssignResponse answer;
  absl::Status status = parsed.status();
  if (status.ok()) {
    response.set_article_id(parsed->article().id());
    status = Assign(*parsed, &answer);
  } else {
    response.set_article_id(std::string(id));
  }
  if (status.ok()) {
    *response.mutable_result()->mutable_answer() = std::move(answer);
  } else {
    ToProto(status, response.mutable_result()->mutable_error());
  }
  return response;
}

absl::Status ArticleIntake::AssignBatch(const v1::AssignBatchRequest& request,
                                        const std::function<bool()>& cancelled,
                                        v1::AssignBatchResponse* response) {
  if (request.articles_size() > limits_.max_batch_size) {
    return absl::ResourceExhaustedError(
        absl::StrCat("articles: ", request.articles_size(),
                     " exceeds the batch limit of ", limits_.max_batch_size));
  }
  // The engine takes the articles in chunks (AssignBatch reads texts
  // ahead on a second thread; the answers are those of one Assign at a
  // time); cancellation is checked between chunks.
  constexpr int kChunk = 64;
  const int n = request.articles_size();
  for (int i = 0; i < n; ++i) response->add_results();
  for (int from = 0; from < n; from += kChunk) {
    if (cancelled()) {
      // Deadline passed or client gone: what was assigned stays assigned
      // (a resend is idempotent), the rest is not attempted; the message
      // says which.
      return absl::DeadlineExceededError(absl::StrCat(
          "cancelled or past its deadline after ", from, " of ", n,
          " articles: articles[0..", from,
          ") were assigned and stored, the rest were not attempted; resend "
          "the batch (resends are idempotent)"));
    }
    std::vector<Article> articles;
    std::vector<int> positions;  // of `articles` in the request
    for (int i = from; i < std::min(n, from + kChunk); ++i) {
      absl::StatusOr<Article> article = FromProto(request.articles(i), limits_);
      if (article.ok()) {
        articles.push_back(*std::move(article));
        positions.push_back(i);
      } else {
        ToProto(absl::Status(article.status().code(),
                             absl::StrCat("articles[", i,
                                          "]: ", article.status().message())),
                response->mutable_results(i)->mutable_error());
      }
    }
    const std::vector<absl::StatusOr<Assignment>> answers =
        engine_->AssignBatch(articles);
    for (size_t k = 0; k < answers.size(); ++k) {
      v1::AssignResult* result = response->mutable_results(positions[k]);
      if (answers[k].ok()) {
        ToProto(*answers[k], result->mutable_answer());
      } else {
        ToProto(InArticle(answers[k].status()), result->mutable_error());
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ArticleIntake::DeleteArticle(
    const v1::DeleteArticleRequest& request) {
  RETURN_IF_ERROR(ValidateId("article_id", request.article_id()));
  return engine_->DeleteArticle(request.article_id());
}

}  // namespace newsdedup
