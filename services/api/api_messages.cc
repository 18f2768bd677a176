#include "services/api/api_messages.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"

namespace newsdedup {
namespace {

using absl::StrCat;

// Timestamps beyond these bounds are rejected (protobuf's valid range).
constexpr int64_t kMinTimestampSeconds = -62135596800;  // 0001-01-01
constexpr int64_t kMaxTimestampSeconds = 253402300799;  // 9999-12-31

// Similarities to four decimals (float noise beyond that).
float Rounded(float x) { return std::round(x * 1e4f) / 1e4f; }

v1::ClusterEvent::Kind ToProto(ClusterEvent::Kind kind) {
  switch (kind) {
    case ClusterEvent::Kind::kCreated:
      return v1::ClusterEvent::CREATED;
    case ClusterEvent::Kind::kAbsorbed:
      return v1::ClusterEvent::ABSORBED;
    case ClusterEvent::Kind::kRepresentativeChanged:
      return v1::ClusterEvent::REPRESENTATIVE_CHANGED;
    case ClusterEvent::Kind::kEdited:
      return v1::ClusterEvent::EDITED;
  }
  return v1::ClusterEvent::KIND_UNSPECIFIED;
}

}  // namespace

absl::StatusOr<absl::Time> FromTimestamp(const google::protobuf::Timestamp& t,
                                         absl::string_view field) {
  if (t.seconds() < kMinTimestampSeconds ||
      t.seconds() > kMaxTimestampSeconds || t.nanos() < 0 ||
      t.nanos() > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": not a valid timestamp"));
  }
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

v1::Relation ToProto(Relation relation) {
  switch (relation) {
    case Relation::kNewStory:
      return v1::NEW_STORY;
    case Relation::kSameStory:
      return v1::SAME_STORY;
    case Relation::kNearDuplicate:
      return v1::NEAR_DUPLICATE;
    case Relation::kExactDuplicate:
      return v1::EXACT_DUPLICATE;
  }
  return v1::RELATION_UNSPECIFIED;
}

void ToProto(const Assignment& a, v1::AssignResponse* out) {
  out->set_article_id(a.article_id);
  out->set_cluster_id(a.cluster_id);
  out->set_thread_id(a.thread_id);
  out->set_relation(ToProto(a.relation));
  out->set_duplicate_of(a.duplicate_of);
  out->set_representative_id(a.representative_id);
  out->set_representative_title(a.representative_title);
  out->set_cluster_size(a.cluster_size);
  v1::Explanation* why = out->mutable_explanation();
  why->set_nearest_article_id(a.nearest_article_id);
  why->set_nearest_similarity(Rounded(a.nearest_similarity));
  why->set_cluster_similarity(Rounded(a.cluster_similarity));
  why->set_threshold(Rounded(a.threshold));
  why->set_runner_up_cluster_id(a.runner_up_cluster_id);
  why->set_runner_up_similarity(Rounded(a.runner_up_similarity));
  for (const std::string& term : a.shared_terms) why->add_shared_terms(term);
  out->set_version(a.version);
}

void ToProto(const ClusterSummary& c, v1::ClusterSummary* out) {
  out->set_cluster_id(c.cluster_id);
  out->set_thread_id(c.thread_id);
  for (const std::string& alias : c.aliases) out->add_aliases(alias);
  out->set_size(c.size);
  out->set_num_sources(c.num_sources);
  out->set_recent_articles(c.recent_articles);
  out->set_expired(c.expired);
  for (int count : c.timeline) out->add_timeline(count);
  for (const std::string& source : c.top_sources) out->add_top_sources(source);
  for (const std::string& name : c.collections) out->add_collections(name);
  out->set_representative_id(c.representative_id);
  out->set_representative_title(c.representative_title);
  if (Dated(c.first_seen)) ToTimestamp(c.first_seen, out->mutable_first_seen());
  if (Dated(c.last_seen)) ToTimestamp(c.last_seen, out->mutable_last_seen());
  if (Dated(c.last_changed)) {
    ToTimestamp(c.last_changed, out->mutable_last_changed());
  }
  if (Dated(c.timeline_end)) {
    ToTimestamp(c.timeline_end, out->mutable_timeline_end());
  }
  for (const ClusterEvent& event : c.history) {
    v1::ClusterEvent* e = out->add_history();
    e->set_kind(ToProto(event.kind));
    ToTimestamp(event.time, e->mutable_time());
    if (event.kind == ClusterEvent::Kind::kAbsorbed) {
      e->set_absorbed_cluster_id(event.cluster_id);
    }
    e->set_article_id(event.article_id);
    if (event.kind == ClusterEvent::Kind::kEdited) {
      e->set_action(event.action);
      e->set_editor(event.editor);
      e->set_reason(event.reason);
      e->set_detail(event.detail);
      e->set_related_cluster_id(event.cluster_id);
    }
  }
}

void ToProto(const Article& a, v1::Article* out) {
  out->set_id(a.id);
  out->set_title(a.title);
  out->set_body(a.body);
  out->set_url(a.url);
  out->set_source(a.source);
  out->set_language(a.language);
  out->set_collection(a.collection);
  if (Dated(a.published)) ToTimestamp(a.published, out->mutable_published());
}

void ToProto(const ArticleView& a, v1::ClusterMember* out) {
  out->set_article_id(a.id);
  out->set_title(a.title);
  out->set_source(a.source);
  if (Dated(a.published)) ToTimestamp(a.published, out->mutable_published());
  out->set_relation(ToProto(a.assignment.relation));
  out->set_url(a.url);
  out->set_duplicate_of(a.assignment.duplicate_of);
  out->set_collection(a.collection);
}

void ToProto(const SimilarArticle& a, v1::SimilarArticle* out) {
  out->set_article_id(a.article_id);
  out->set_cluster_id(a.cluster_id);
  out->set_similarity(Rounded(a.similarity));
  out->set_title(a.title);
  out->set_representative_title(a.representative_title);
}

void ToProto(const absl::Status& status, v1::Error* out) {
  out->set_code(static_cast<int>(status.code()));
  out->set_message(std::string(status.message()));
}

absl::Status InArticle(const absl::Status& status) {
  // Only refusals of the article's content name one of its fields; a
  // replica or store that cannot take writes says so in its own words.
  if (status.code() != absl::StatusCode::kInvalidArgument) return status;
  return absl::Status(status.code(),
                      absl::StrCat("article.", status.message()));
}

absl::Status ValidateId(absl::string_view field, absl::string_view id) {
  if (id.empty())
    return absl::InvalidArgumentError(StrCat(field, ": required"));
  if (id.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(StrCat(
        field, ": ", id.size(), " bytes exceeds the limit of ", kMaxIdBytes));
  }
  if (id.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(StrCat(field, ": contains a NUL byte"));
  }
  if (absl::StripAsciiWhitespace(id).empty()) {
    return absl::InvalidArgumentError(StrCat(field, ": only whitespace"));
  }
  return absl::OkStatus();
}

absl::Status ValidateArticle(const Article& article,
                             const ServiceLimits& limits) {
  RETURN_IF_ERROR(ValidateId("article.id", article.id));
  const size_t bytes = article.id.size() + article.title.size() +
                       article.body.size() + article.url.size() +
                       article.source.size();
  if (bytes > limits.max_article_bytes) {
    return absl::ResourceExhaustedError(
        StrCat("article ", article.id, ": ", bytes, " bytes exceeds the ",
               limits.max_article_bytes, "-byte limit"));
  }
  if (Dated(article.published) &&
      (article.published < absl::FromUnixSeconds(kMinTimestampSeconds) ||
       article.published > absl::FromUnixSeconds(kMaxTimestampSeconds))) {
    return absl::InvalidArgumentError(
        "article.published: not a valid timestamp (years 1 to 9999)");
  }
  return absl::OkStatus();
}

absl::StatusOr<Article> FromProto(const v1::Article& in,
                                  const ServiceLimits& limits) {
  // The id first, before anything is copied.
  RETURN_IF_ERROR(ValidateId("article.id", in.id()));
  ASSIGN_OR_RETURN(Article article, FromAcceptedProto(in));
  RETURN_IF_ERROR(ValidateArticle(article, limits));
  return article;
}

absl::StatusOr<Article> FromAcceptedProto(const v1::Article& in) {
  Article article;
  article.id = in.id();
  article.title = in.title();
  article.body = in.body();
  article.url = in.url();
  article.source = in.source();
  article.language = in.language();
  article.collection = in.collection();
  if (in.has_published()) {
    ASSIGN_OR_RETURN(article.published,
                     FromTimestamp(in.published(), "article.published"));
  }
  return article;
}

absl::Status FromApiJson(absl::string_view json,
                         google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message,
      options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request body: not a JSON ", message->GetDescriptor()->name(), ": ",
        std::string(status.message())));
  }
  return absl::OkStatus();
}

std::string ApiJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  // Fails only for messages that cannot be printed (Any of unknown types),
  // which the API does not have.
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

}  // namespace newsdedup
