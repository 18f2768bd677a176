// Helpers shared by the test suites: articles and a real engine.
#ifndef NEWSDEDUP_TESTS_SUPPORT_TEST_ARTICLES_H_
#define NEWSDEDUP_TESTS_SUPPORT_TEST_ARTICLES_H_

#include <memory>
#include <string>
#include <vector>

#include "services/engine/article.h"
#include "services/engine/engine.h"

namespace newsdedup {
namespace testing {

// An article published `hours` after 2025-10-22T00:00:00Z.
Article MakeArticle(const std::string& id, const std::string& title,
                    const std::string& body = "", double hours = 0,
                    const std::string& source = "");

// An undated article.
Article MakeUndatedArticle(const std::string& id, const std::string& title,
                           const std::string& body = "");

// An engine with the shipped tokenizer model and lexical embedder;
// aborts the test binary if it cannot be built.
std::unique_ptr<ClusteringEngine> MakeEngine(
    const EngineOptions& options = EngineOptions());

// A small labelled JSONL file: 13 headlines of 4 stories, each line with a
// gold "story" field.
const char* StoriesJsonl();

// The articles of StoriesJsonl() with their gold labels, in file order.
struct LabelledFixture {
  std::vector<Article> articles;
  std::vector<std::string> labels;
};
LabelledFixture LoadStoriesFixture();

}  // namespace testing
}  // namespace newsdedup

#endif  // NEWSDEDUP_TESTS_SUPPORT_TEST_ARTICLES_H_
