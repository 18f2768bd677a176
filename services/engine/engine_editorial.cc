#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/engine/engine_impl.h"

// Editors' corrections: merge, split, move, pin and keep apart. Each is
// validated in full before anything changes, so a refused action leaves
// the engine as it was; then it is applied with the engine's own moves
// (Absorb, MoveMember) and recorded in the history of every cluster it
// touches.

namespace newsdedup {
namespace internal {
namespace {

using Kind = EditorialAction::Kind;

// An editor's action is told three times (the story's history, the
// server's log, the change feed), each record with these fields.
template <typename From, typename To>
void CopyEditorialFields(const From& from, To* to) {
  to->action = from.action;
  to->editor = from.editor;
  to->reason = from.reason;
  to->detail = from.detail;
}

}  // namespace

absl::StatusOr<int64_t> ClusteringEngineImpl::FindEditableCluster(
    absl::string_view cluster_id) const {
  if (cluster_id.empty()) {
    return absl::InvalidArgumentError("cluster_id: required");
  }
  ASSIGN_OR_RETURN(const int64_t c, FindLiveCluster(cluster_id));
  if (clusters_[c].members.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cluster ", cluster_id,
                     " has no members left (expired or taken "
                     "down)"));
  }
  return c;
}

bool ClusteringEngineImpl::KeptApart(int64_t c, int64_t d) const {
  // A cluster forgotten since (ForgetStories) keeps nothing apart.
  for (int64_t k : clusters_[c].kept_apart) {
    if (clusters_.contains(k) && Resolve(k) == d) return true;
  }
  for (int64_t k : clusters_[d].kept_apart) {
    if (clusters_.contains(k) && Resolve(k) == c) return true;
  }
  return false;
}

void ClusteringEngineImpl::MoveMember(int64_t a, int64_t to) {
  ArticleRecord& record = articles_[a];
  const int64_t from = Resolve(record.cluster);
  Cluster& source = clusters_[from];
  Cluster& target = clusters_[to];
  RemoveMember(&source, a);
  if (record.embedded_as == a) {  // its vector counts in the centroid
    SubtractFromCentroid(&source, record.embedding);
    AddToCentroid(&target, record.embedding);
  }
  if (target.members.empty()) ++live_clusters_;
  AddMember(&target, a);
  target.span.Extend(record.published);
  // The article's own record names the cluster it first joined; the
  // placement, kept with the cluster it is in now, overrides that.
  ForgetPlacement(a);
  CountReferences(a, -1);
  record.cluster = to;
  CountReferences(a, +1);
  target.placed.push_back(record.seq);
  MarkDirty(from);
  MarkDirty(to);
  AfterMemberLeft(from, a);
  if (target.representative < 0) {
    target.representative = a;
  } else {
    UpdateRepresentative(to, a);
  }
}

void ClusteringEngineImpl::RecordEdit(int64_t c, const EditorialAction& action,
                                      std::string other_cluster,
                                      std::string article, std::string detail) {
  Cluster& cluster = clusters_[c];
  ClusterEvent event;
  event.kind = ClusterEvent::Kind::kEdited;
  event.time = Now();
  event.cluster_id = std::move(other_cluster);
  event.article_id = std::move(article);
  event.action = EditorialActionName(action.kind);
  event.editor = action.editor;
  event.reason = action.reason;
  event.detail = std::move(detail);
  EngineOptions::StoryChange change;
  change.kind = EngineOptions::StoryChange::Kind::kEdited;
  change.story_id = cluster.id;
  change.article_id = event.article_id;
  change.absorbed_id = event.cluster_id;
  CopyEditorialFields(event, &change);
  FeedEvent edited = NewFeedEvent(FeedEvent::Kind::kEdited, c, -1);
  edited.article_id = event.article_id;
  edited.related_cluster_id = event.cluster_id;
  CopyEditorialFields(event, &edited);
  Publish(std::move(edited));
  cluster.history.push_back(std::move(event));
  MarkDirty(c);
  Announce(change);
}

absl::StatusOr<EditResult> ClusteringEngineImpl::EditLocked(
    const EditorialAction& action) {
  if (absl::StripAsciiWhitespace(action.reason).empty()) {
    return absl::InvalidArgumentError(
        "reason: required (say why, for the cluster's history)");
  }
  if (absl::StripAsciiWhitespace(action.editor).empty()) {
    return absl::InvalidArgumentError("editor: required");
  }
  switch (action.kind) {
    case Kind::kMergeClusters: {
      ASSIGN_OR_RETURN(const int64_t from,
                       FindEditableCluster(action.cluster_id));
      ASSIGN_OR_RETURN(const int64_t into,
                       FindEditableCluster(action.target_cluster_id));
      if (from == into) {
        return absl::InvalidArgumentError(absl::StrCat(
            "cluster ", action.cluster_id, " is already ", clusters_[into].id,
            ": a cluster cannot merge into itself"));
      }
      if (KeptApart(from, into)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "clusters ", clusters_[from].id, " and ", clusters_[into].id,
            " are kept apart; allow merging them first"));
      }
      const std::string absorbed = clusters_[from].id;
      RecordEdit(from, action, clusters_[into].id, "",
                 absl::StrCat("merged into ", clusters_[into].id));
      Absorb(into, from);
      RecordEdit(into, action, absorbed, "",
                 absl::StrCat("merged ", absorbed, " into this cluster"));
      return EditResult{clusters_[into].id};
    }
    case Kind::kSplitCluster: {
      ASSIGN_OR_RETURN(const int64_t c, FindEditableCluster(action.cluster_id));
      if (action.article_ids.empty()) {
        return absl::InvalidArgumentError(
            "article_ids: name the members that leave");
      }
      std::vector<int64_t> leaving;
      absl::flat_hash_set<int64_t> seen;
      for (const std::string& id : action.article_ids) {
        ASSIGN_OR_RETURN(const int64_t a, FindArticle(id));
        if (Resolve(articles_[a].cluster) != c) {
          return absl::InvalidArgumentError(absl::StrCat(
              "article ", id, " is not a member of cluster ", clusters_[c].id));
        }
        if (seen.insert(a).second) leaving.push_back(a);
      }
      if (leaving.size() >= clusters_[c].members.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "a split must leave at least one member in cluster ",
            clusters_[c].id, " (to move them all, merge instead)"));
      }
      const int64_t fresh = NewCluster();
      for (int64_t a : leaving) MoveMember(a, fresh);
      // The split-off group must not drift back with the next article.
      clusters_[c].kept_apart.push_back(fresh);
      clusters_[fresh].kept_apart.push_back(c);
      FeedEvent split = NewFeedEvent(FeedEvent::Kind::kSplit, fresh, -1);
      split.related_cluster_id = clusters_[c].id;
      Publish(std::move(split));
      // Two events now, one storyline still.
      JoinThreads(c, fresh);
      RecordEdit(c, action, clusters_[fresh].id, "",
                 absl::StrCat("split ", leaving.size(), " articles off into ",
                              clusters_[fresh].id, "; kept apart from it"));
      RecordEdit(fresh, action, clusters_[c].id, "",
                 absl::StrCat("split off from ", clusters_[c].id, " with ",
                              leaving.size(), " articles"));
      return EditResult{clusters_[fresh].id};
    }
    case Kind::kMoveArticle: {
      if (action.article_id.empty()) {
        return absl::InvalidArgumentError("article_id: required");
      }
      ASSIGN_OR_RETURN(const int64_t a, FindArticle(action.article_id));
      ASSIGN_OR_RETURN(const int64_t to,
                       FindEditableCluster(action.target_cluster_id));
      const int64_t from = Resolve(articles_[a].cluster);
      if (from == to) {
        return absl::InvalidArgumentError(
            absl::StrCat("article ", action.article_id,
                         " is already in cluster ", clusters_[to].id));
      }
      MoveMember(a, to);
      FeedEvent moved = NewFeedEvent(FeedEvent::Kind::kMoved, to, a);
      moved.related_cluster_id = clusters_[from].id;
      Publish(std::move(moved));
      RecordEdit(
          from, action, clusters_[to].id, action.article_id,
          absl::StrCat("moved ", action.article_id, " to ", clusters_[to].id));
      RecordEdit(to, action, clusters_[from].id, action.article_id,
                 absl::StrCat("moved ", action.article_id, " here from ",
                              clusters_[from].id));
      return EditResult{clusters_[to].id};
    }
    case Kind::kPinRepresentative: {
      ASSIGN_OR_RETURN(const int64_t c, FindEditableCluster(action.cluster_id));
      if (action.article_id.empty()) {
        return absl::InvalidArgumentError("article_id: required");
      }
      ASSIGN_OR_RETURN(const int64_t a, FindArticle(action.article_id));
      if (Resolve(articles_[a].cluster) != c) {
        return absl::InvalidArgumentError(
            absl::StrCat("article ", action.article_id,
                         " is not a member of cluster ", clusters_[c].id));
      }
      SetRepresentative(c, a);
      clusters_[c].pinned = true;
      RecordEdit(
          c, action, "", action.article_id,
          absl::StrCat("pinned ", action.article_id, " as the representative"));
      return EditResult{clusters_[c].id};
    }
    case Kind::kUnpinRepresentative: {
      ASSIGN_OR_RETURN(const int64_t c, FindEditableCluster(action.cluster_id));
      Cluster& cluster = clusters_[c];
      if (!cluster.pinned) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cluster ", cluster.id, " has no pinned representative"));
      }
      cluster.pinned = false;
      SetRepresentative(c, MostCentral(cluster));
      RecordEdit(c, action, "", "",
                 "unpinned the representative; it is elected again");
      return EditResult{cluster.id};
    }
    case Kind::kKeepApart:
    case Kind::kAllowMerging: {
      ASSIGN_OR_RETURN(const int64_t c, FindLiveCluster(action.cluster_id));
      ASSIGN_OR_RETURN(const int64_t d,
                       FindLiveCluster(action.target_cluster_id));
      if (c == d) {
        return absl::InvalidArgumentError(
            absl::StrCat(action.cluster_id, " and ", action.target_cluster_id,
                         " are one cluster"));
      }
      const bool apart = KeptApart(c, d);
      if (action.kind == Kind::kKeepApart) {
        if (apart) return EditResult{clusters_[c].id};  // already so
        clusters_[c].kept_apart.push_back(d);
        clusters_[d].kept_apart.push_back(c);
        RecordEdit(c, action, clusters_[d].id, "",
                   absl::StrCat("kept apart from ", clusters_[d].id));
        RecordEdit(d, action, clusters_[c].id, "",
                   absl::StrCat("kept apart from ", clusters_[c].id));
        return EditResult{clusters_[c].id};
      }
      if (!apart) {
        return absl::FailedPreconditionError(
            absl::StrCat("clusters ", clusters_[c].id, " and ", clusters_[d].id,
                         " are not kept apart"));
      }
      for (const auto& [x, y] : {std::pair(c, d), std::pair(d, c)}) {
        std::vector<int64_t>& list = clusters_[x].kept_apart;
        list.erase(std::remove_if(list.begin(), list.end(),
                                  [&](int64_t k) {
                                    return !clusters_.contains(k) ||
                                           Resolve(k) == y;
                                  }),
                   list.end());
      }
      RecordEdit(c, action, clusters_[d].id, "",
                 absl::StrCat("may merge with ", clusters_[d].id, " again"));
      RecordEdit(d, action, clusters_[c].id, "",
                 absl::StrCat("may merge with ", clusters_[c].id, " again"));
      return EditResult{clusters_[c].id};
    }
  }
  return absl::InvalidArgumentError("unknown editorial action");
}

}  // namespace internal
}  // namespace newsdedup
