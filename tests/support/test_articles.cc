#include "tests/support/test_articles.h"

#include <cstdlib>
#include <iostream>
#include <sstream>

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

// Hand-written headlines of four stories on one day (not taken from the
// data sets); as in real feeds, headlines of one story share few words.
const char kStoriesJsonl[] =
    R"jsonl({"id": "s1", "title": "Trump says summit with Putin in Budapest is on hold", "text": "", "url": "https://example.com/news/summit-on-hold", "source": "Wire A", "published": "2025-10-22T08:00:00Z", "story": "summit"}
{"id": "q1", "title": "Magnitude 6.1 earthquake strikes off coast of Chile, tsunami warning issued", "text": "", "source": "Wire B", "published": "2025-10-22T08:30:00Z", "story": "quake"}
{"id": "s2", "title": "Putin-Trump summit in Budapest put on hold, White House says", "text": "", "url": "javascript:alert(1)", "source": "Paper C", "published": "2025-10-22T09:00:00Z", "story": "summit"}
{"id": "f1", "title": "Central bank raises interest rates by a quarter point to fight inflation", "text": "", "source": "Paper D", "published": "2025-10-22T09:10:00Z", "story": "rates"}
{"id": "q2", "title": "Chile earthquake: tsunami warning lifted after magnitude 6.1 quake", "text": "", "source": "Paper E", "published": "2025-10-22T09:20:00Z", "story": "quake"}
{"id": "s3", "title": "No plans for Trump to meet Putin in Budapest soon, official says", "text": "", "source": "Site F", "published": "2025-10-22T10:00:00Z", "story": "summit"}
{"id": "f2", "title": "Interest rates raised a quarter point as central bank fights inflation", "text": "", "source": "Site G", "published": "2025-10-22T10:30:00Z", "story": "rates"}
{"id": "c1", "title": "Champions League: Real Madrid beat Juventus 2-1 in Turin", "text": "", "source": "Sport H", "published": "2025-10-22T21:00:00Z", "story": "football"}
{"id": "q3", "title": "Tsunami warning for Chile coast after strong earthquake", "text": "", "source": "Wire A", "published": "2025-10-22T11:00:00Z", "story": "quake"}
{"id": "c2", "title": "Real Madrid win 2-1 at Juventus in Champions League clash", "text": "", "source": "Paper C", "published": "2025-10-22T21:30:00Z", "story": "football"}
{"id": "f3", "title": "Central bank rate rise: quarter point increase to curb inflation", "text": "", "source": "Wire B", "published": "2025-10-22T12:00:00Z", "story": "rates"}
{"id": "s4", "title": "Budapest summit between Trump and Putin on hold", "text": "", "source": "Paper D", "published": "2025-10-22T13:00:00Z", "story": "summit"}
{"id": "c3", "title": "Juventus lose 2-1 to Real Madrid in Champions League", "text": "", "source": "Site G", "published": "2025-10-22T22:00:00Z", "story": "football"}
)jsonl";

const char* StoriesJsonl() { return kStoriesJsonl; }

LabelledFixture LoadStoriesFixture() {
  LabelledFixture fixture;
  std::istringstream in(kStoriesJsonl);
  ForEachArticleLine(in, [&](int64_t line, absl::StatusOr<ParsedArticle> p) {
    if (!p.ok()) {
      std::cerr << "stories fixture:" << line << ": " << p.status() << "\n";
      std::abort();
    }
    fixture.labels.push_back(p->fields.at("story").get<std::string>());
    fixture.articles.push_back(std::move(p->article));
  });
  return fixture;
}

}  // namespace testing
}  // namespace newsdedup
