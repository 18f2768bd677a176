#include "services/replica/replica_progress.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace newsdedup {

absl::Status AwaitSequence(const ReplicaProgress& replica,
                           absl::string_view name, absl::string_view wanted,
                           absl::Time deadline) {
  uint64_t sequence = 0;
  if (!absl::SimpleAtoi(wanted, &sequence)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": must be a log sequence number"));
  }
  if (replica.WaitForSequence(sequence, deadline)) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("this replica has applied the change log up to entry ",
                   replica.applied_sequence(), ", not yet ", sequence,
                   "; retry, or ask another replica"));
}

}  // namespace newsdedup
