#include "services/replica/log_entries.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "services/api/api_messages.h"

namespace newsdedup {
namespace {

using replication::v1::LogEntry;
using LoggedAction = replication::v1::EditorialAction;

// The logged numbers are stable (log.proto); the C++ order is not.
LoggedAction::Kind ToLogged(EditorialAction::Kind kind) {
  switch (kind) {
    case EditorialAction::Kind::kMergeClusters:
      return LoggedAction::MERGE_CLUSTERS;
    case EditorialAction::Kind::kSplitCluster:
      return LoggedAction::SPLIT_CLUSTER;
    case EditorialAction::Kind::kMoveArticle:
      return LoggedAction::MOVE_ARTICLE;
    case EditorialAction::Kind::kPinRepresentative:
      return LoggedAction::PIN_REPRESENTATIVE;
    case EditorialAction::Kind::kUnpinRepresentative:
      return LoggedAction::UNPIN_REPRESENTATIVE;
    case EditorialAction::Kind::kKeepApart:
      return LoggedAction::KEEP_APART;
    case EditorialAction::Kind::kAllowMerging:
      return LoggedAction::ALLOW_MERGING;
  }
  return LoggedAction::MERGE_CLUSTERS;  // not reached: the switch is complete
}

absl::StatusOr<EditorialAction::Kind> FromLogged(LoggedAction::Kind kind) {
  switch (kind) {
    case LoggedAction::MERGE_CLUSTERS:
      return EditorialAction::Kind::kMergeClusters;
    case LoggedAction::SPLIT_CLUSTER:
      return EditorialAction::Kind::kSplitCluster;
    case LoggedAction::MOVE_ARTICLE:
      return EditorialAction::Kind::kMoveArticle;
    case LoggedAction::PIN_REPRESENTATIVE:
      return EditorialAction::Kind::kPinRepresentative;
    case LoggedAction::UNPIN_REPRESENTATIVE:
      return EditorialAction::Kind::kUnpinRepresentative;
    case LoggedAction::KEEP_APART:
      return EditorialAction::Kind::kKeepApart;
    case LoggedAction::ALLOW_MERGING:
      return EditorialAction::Kind::kAllowMerging;
    default:
      break;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the log holds editorial action number ", static_cast<int>(kind),
      ", which this build does not know: upgrade this replica to the "
      "release that wrote it"));
}

// LogEntry.stamp: a mark in the high bits that random bytes are unlikely
// to carry, the format in the low ones.
constexpr uint64_t kStampMark = uint64_t{0x4E44} << 48;
constexpr uint64_t kStampMarkMask = uint64_t{0xFFFF} << 48;

// Whether every part of a stamped-or-older entry is something this build
// knows how to apply.
bool Complete(const LogEntry& entry) {
  switch (entry.change_case()) {
    case LogEntry::kAssign:
    case LogEntry::kDeleteArticleId:
    case LogEntry::kCheckpoint:
      return true;
    case LogEntry::kEdit:
      return LoggedAction::Kind_IsValid(entry.edit().kind());
    case LogEntry::CHANGE_NOT_SET:
      break;
  }
  return false;
}

}  // namespace

std::string EncodeEntry(LogEntry entry) {
  entry.set_stamp(kStampMark | kLogFormat);
  return entry.SerializeAsString();
}

absl::StatusOr<LogEntry> DecodeEntry(absl::string_view data) {
  LogEntry entry;
  if (!entry.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return absl::InvalidArgumentError("malformed log entry (does not parse)");
  }
  if (entry.stamp() != 0) {
    if ((entry.stamp() & kStampMarkMask) != kStampMark) {
      return absl::InvalidArgumentError(
          "malformed log entry (not stamped by newsdedup)");
    }
    const uint64_t format = entry.stamp() & ~kStampMarkMask;
    if (format > kLogFormat) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the log holds an entry of format ", format, " (this build reads ",
          kLogFormat, "): upgrade this replica to the release that wrote it"));
    }
  }
  // Stamped with this format or an older one, or from a release before
  // stamps: it can only hold what this build knows.
  if (!Complete(entry)) {
    return absl::InvalidArgumentError(
        "malformed log entry (no change this build or an older one writes)");
  }
  return entry;
}

LogEntry AssignEntry(const Article& article) {
  LogEntry entry;
  ToProto(article, entry.mutable_assign());
  return entry;
}

LogEntry DeleteEntry(absl::string_view article_id) {
  LogEntry entry;
  entry.set_delete_article_id(std::string(article_id));
  return entry;
}

LogEntry EditEntry(const EditorialAction& action) {
  LogEntry entry;
  LoggedAction* edit = entry.mutable_edit();
  edit->set_kind(ToLogged(action.kind));
  edit->set_cluster_id(action.cluster_id);
  edit->set_target_cluster_id(action.target_cluster_id);
  edit->set_article_id(action.article_id);
  for (const std::string& id : action.article_ids) edit->add_article_ids(id);
  edit->set_editor(action.editor);
  edit->set_reason(action.reason);
  return entry;
}

LogEntry CheckpointEntry(uint64_t number) {
  LogEntry entry;
  entry.set_checkpoint(number);
  return entry;
}

absl::StatusOr<Article> ArticleOfEntry(const LogEntry& entry) {
  return FromAcceptedProto(entry.assign());
}

absl::StatusOr<EditorialAction> ActionOfEntry(const LogEntry& entry) {
  const LoggedAction& in = entry.edit();
  EditorialAction action;
  absl::StatusOr<EditorialAction::Kind> kind = FromLogged(in.kind());
  if (!kind.ok()) return kind.status();
  action.kind = *kind;
  action.cluster_id = in.cluster_id();
  action.target_cluster_id = in.target_cluster_id();
  action.article_id = in.article_id();
  action.article_ids.assign(in.article_ids().begin(), in.article_ids().end());
  action.editor = in.editor();
  action.reason = in.reason();
  return action;
}

}  // namespace newsdedup
