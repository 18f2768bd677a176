// The entries of the replicated change log (protos/newsdedup/replication/
// v1/log.proto): one codec per kind of change, each way.
//
// Decoding never checks the service's limits again: an entry is in the log
// because the replica that took the call accepted it, with its own limits
// (--max-article-bytes may differ between servers and releases), and every
// replica must apply exactly what the log holds. A kind or number this
// build does not know is an error of its own (kFailedPrecondition: a newer
// newsdedup wrote it), never read as something else.
#ifndef NEWSDEDUP_SERVICES_REPLICA_LOG_ENTRIES_H_
#define NEWSDEDUP_SERVICES_REPLICA_LOG_ENTRIES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "newsdedup/replication/v1/log.pb.h"
#include "services/engine/article.h"
#include "services/engine/engine.h"

namespace newsdedup {

// The format of the entries this build writes (log.proto: LogEntry.stamp):
// raise it with every new kind of change or editorial action number.
inline constexpr uint32_t kLogFormat = 1;

// `entry` stamped with this build's format, as bytes for the log.
std::string EncodeEntry(replication::v1::LogEntry entry);

// The entry in `data`, every part of which this build knows. Errors:
// kFailedPrecondition for an entry stamped by a newer release (the replica
// needs an upgrade and must not move past it); kInvalidArgument for
// anything else it cannot read (bytes nobody wrote as an entry: refused
// alike by every replica, which then go on).
absl::StatusOr<replication::v1::LogEntry> DecodeEntry(absl::string_view data);

replication::v1::LogEntry AssignEntry(const Article& article);
replication::v1::LogEntry DeleteEntry(absl::string_view article_id);
replication::v1::LogEntry EditEntry(const EditorialAction& action);
replication::v1::LogEntry CheckpointEntry(uint64_t number);

// Errors: kInvalidArgument for a timestamp out of range.
absl::StatusOr<Article> ArticleOfEntry(const replication::v1::LogEntry& entry);
// Errors: kFailedPrecondition for an action this build does not know.
absl::StatusOr<EditorialAction> ActionOfEntry(
    const replication::v1::LogEntry& entry);

}  // namespace newsdedup

#endif  // NEWSDEDUP_SERVICES_REPLICA_LOG_ENTRIES_H_
