#include "tests/support/test_articles.h"

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "embeddings/lexical_embedder.h"
#include "tools/article_jsonl.h"

namespace newsdedup {
namespace testing {

Article MakeArticle(const std::string& id, const std::string& title,
                    const std::string& body, double hours,
                    const std::string& source) {
  Article a = MakeUndatedArticle(id, title, body);
  a.source = source;
  a.published = absl::FromUnixSeconds(1761091200) + absl::Hours(hours);
  return a;
}

Article MakeUndatedArticle(const std::string& id, const std::string& title,
                           const std::string& body) {
  Article a;
  a.id = id;
  a.title = title;
  a.body = body;
  return a;
}

std::unique_ptr<ClusteringEngine> MakeEngine(const EngineOptions& options) {
  auto embedder = NewLexicalEmbedder(LexicalEmbedderOptions());
  if (!embedder.ok()) {
    std::cerr << "cannot build embedder: " << embedder.status() << "\n";
    std::abort();
  }
  auto engine = ClusteringEngine::Create(options, *std::move(embedder));
  if (!engine.ok()) {
    std::cerr << "cannot build engine: " << engine.status() << "\n";
    std::abort();
  }
  return *std::move(engine);
}

std::string FixturePath(const std::string& name) {
  return std::string(NEWSDEDUP_FIXTURE_DIR) + "/" + name;
}

LabelledFixture LoadLabelledFixture(const std::string& name) {
  LabelledFixture fixture;
  std::ifstream in(FixturePath(name));
  if (!in) {
    std::cerr << "missing fixture " << name << "\n";
    std::abort();
  }
  ForEachArticleLine(in, [&](int64_t line, absl::StatusOr<ParsedArticle> p) {
    if (!p.ok()) {
      std::cerr << name << ":" << line << ": " << p.status() << "\n";
      std::abort();
    }
    fixture.labels.push_back(p->fields.at("story").get<std::string>());
    fixture.articles.push_back(std::move(p->article));
  });
  return fixture;
}

}  // namespace testing
}  // namespace newsdedup
