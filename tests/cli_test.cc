// End-to-end tests of the `newsdedup` command-line tool: the real binary
// run as a child process on files in a temporary directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "newsdedup/v1/dedup.pb.h"
#include "tests/support/test_articles.h"

namespace newsdedup {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat(
               "newsdedup-cli-test-", getpid(), "-",
               ::testing::UnitTest::GetInstance()->random_seed(), "-",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Runs the tool with `args` (shell words), capturing stdout and stderr.
  RunResult Run(const std::string& args) {
    const std::string out = (dir_ / "stdout").string();
    const std::string err = (dir_ / "stderr").string();
    const std::string command =
        absl::StrCat(NEWSDEDUP_CLI_PATH, " ", args, " >", out, " 2>", err);
    const int status = std::system(command.c_str());
    RunResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadFile(out);
    r.err = ReadFile(err);
    return r;
  }

  std::filesystem::path dir_;
};

TEST_F(CliTest, HelpListsCommandsAndFlags) {
  RunResult r = Run("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* command :
       {"cluster", "eval", "train-tokenizer", "train-scorer"}) {
    EXPECT_THAT(r.out, HasSubstr(command));
  }
  r = Run("cluster --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("--window-hours"));
  EXPECT_THAT(r.out, HasSubstr("--output"));
  r = Run("eval --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("--sweep"));
  EXPECT_THAT(r.out, HasSubstr("--pairs"));
  r = Run("train-tokenizer --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("--vocab-size"));
}

// Issue 13: `newsdedup --version`.
TEST_F(CliTest, VersionIsPrinted) {
  RunResult r = Run("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, ::testing::MatchesRegex("[0-9]+\\.[0-9]+\\.[0-9]+\n"));
}

// Issue 37: a misspelt command is named with the closest one, and every
// usage error exits 2 (CLI11's own codes were 105, 106, 109, ...).
TEST_F(CliTest, UnknownCommandIsAUsageErrorThatSuggestsTheClosest) {
  RunResult r = Run("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown command 'frobnicate'"));
  EXPECT_THAT(r.err, HasSubstr("cluster, eval"));
  r = Run("clsuter stories.jsonl");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("did you mean 'cluster'?"));
  r = Run("client --server 127.0.0.1:1 get-artcle x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("newsdedup client: unknown command "
                               "'get-artcle'; did you mean 'get-article'?"));
  for (const char* usage :
       {"cluster --no-such-flag", "cluster --window-hours abc", "eval",
        "cluster a.jsonl b.jsonl c.jsonl"}) {
    r = Run(usage);
    EXPECT_EQ(r.exit_code, 2) << usage << ": " << r.err;
    EXPECT_THAT(r.err, Not(HasSubstr("unknown command"))) << usage;
  }
}

TEST_F(CliTest, ClusterWritesOneAnswerPerArticleInTheApisShape) {
  const std::string clusters = (dir_ / "clusters.jsonl").string();
  RunResult r = Run(
      absl::StrCat("cluster ", Write("stories.jsonl", testing::StoriesJsonl()),
                   " --resolve-merges --summary 3 --clusters ", clusters));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines =
      absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 13u);
  for (const std::string& line : lines) {
    // Issue 13: each line is the API's AssignResponse in protobuf's JSON
    // mapping, every field present, similarities rounded.
    v1::AssignResponse answer;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &answer).ok())
        << line;
    const nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_TRUE(j.at("article_id").is_string());
    EXPECT_TRUE(j.at("cluster_id").is_string());
    EXPECT_TRUE(j.at("relation").is_string());
    EXPECT_TRUE(j.at("duplicate_of").is_string());
    EXPECT_TRUE(j.at("representative_id").is_string());
    EXPECT_TRUE(j.at("explanation").at("threshold").is_number());
    EXPECT_THAT(line, Not(::testing::ContainsRegex("[0-9]\\.[0-9]{5,}")));
  }
  EXPECT_THAT(r.err, HasSubstr("4 clusters"));
  // --clusters: one GetClusterResponse per cluster with every member.
  std::vector<std::string> rows =
      absl::StrSplit(ReadFile(clusters), '\n', absl::SkipEmpty());
  ASSERT_EQ(rows.size(), 4u);
  int members = 0;
  for (const std::string& row : rows) {
    v1::GetClusterResponse cluster;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(row, &cluster).ok())
        << row;
    EXPECT_EQ(cluster.members_size(), cluster.cluster().size());
    EXPECT_FALSE(cluster.cluster().representative_title().empty());
    EXPECT_EQ(cluster.cluster().num_sources(),
              cluster.cluster().top_sources_size());
    members += cluster.members_size();
  }
  EXPECT_EQ(members, 13);
  // The spelling works too; an unwritable file is an error.
  r = Run(absl::StrCat("cluster ", Write("s.jsonl", testing::StoriesJsonl()),
                       " --stories /nonexistent/dir/clusters.jsonl"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot write /nonexistent/dir/clusters.jsonl"));
}

// Answers are written on a thread of their own as each batch of 256 is
// placed: across batches, and around lines that are refused, they come out
// in input order, one per article.
TEST_F(CliTest, ClusterAnswersInInputOrderAcrossBatches) {
  constexpr int kLines = 700;
  std::string input;
  std::vector<std::string> expected;
  for (int i = 0; i < kLines; ++i) {
    if (i % 97 == 5) {
      input += "{not json\n";
      continue;
    }
    const std::string id = absl::StrCat("article-", i);
    expected.push_back(id);
    input +=
        nlohmann::json{
            {"id", id},
            {"title", absl::StrCat("Report number ", i, " on topic ", i % 13)}}
            .dump() +
        "\n";
  }
  RunResult r = Run(absl::StrCat("cluster ", Write("many.jsonl", input)));
  EXPECT_EQ(r.exit_code, 3) << r.err;  // some lines were rejected
  std::vector<std::string> ids;
  for (absl::string_view line :
       absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    ids.push_back(nlohmann::json::parse(line).at("article_id"));
  }
  EXPECT_EQ(ids, expected);
}

// Issue 37: a batch user's flat table, the same stories as the JSONL.
TEST_F(CliTest, ClusterWritesATableForBatchUsers) {
  const std::string input = Write("stories.jsonl", testing::StoriesJsonl());
  RunResult json = Run(absl::StrCat("cluster ", input, " --resolve-merges"));
  ASSERT_EQ(json.exit_code, 0) << json.err;
  std::map<std::string, nlohmann::json> answers;
  for (absl::string_view line :
       absl::StrSplit(json.out, '\n', absl::SkipEmpty())) {
    nlohmann::json j = nlohmann::json::parse(line);
    answers[j.at("article_id")] = j;
  }
  RunResult tsv =
      Run(absl::StrCat("cluster ", input, " --resolve-merges --format tsv"));
  ASSERT_EQ(tsv.exit_code, 0) << tsv.err;
  std::vector<std::string> lines =
      absl::StrSplit(tsv.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 14u);
  EXPECT_EQ(lines[0],
            "article_id\tcluster_id\trelation\trepresentative_id\t"
            "thread_id\tduplicate_of");
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> f = absl::StrSplit(lines[i], '\t');
    ASSERT_EQ(f.size(), 6u) << lines[i];
    const nlohmann::json& j = answers.at(f[0]);
    EXPECT_EQ(f[1], j.at("cluster_id")) << lines[i];
    EXPECT_EQ(f[2], j.at("relation")) << lines[i];
    EXPECT_EQ(f[4], j.at("thread_id")) << lines[i];
    EXPECT_THAT(f[1], ::testing::StartsWith("story-"));
    EXPECT_THAT(f[4], ::testing::StartsWith("thread-"));
  }
  RunResult csv = Run(absl::StrCat("cluster ", input, " --format csv"));
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_THAT(csv.out, ::testing::StartsWith(
                           "article_id,cluster_id,relation,representative_id,"
                           "thread_id,duplicate_of\r\n"));
  RunResult bad = Run(absl::StrCat("cluster ", input, " --format xlsx"));
  EXPECT_EQ(bad.exit_code, 2);
}

TEST_F(CliTest, ClusterReadsStdin) {
  const std::string input =
      Write("in.jsonl",
            "{\"id\": \"a\", \"title\": \"Summit on hold\"}\n"
            "{\"id\": \"b\", \"title\": \"Summit on hold\"}\n");
  RunResult r = Run(absl::StrCat("cluster - < ", input));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines =
      absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(lines[1]).at("relation"), "EXACT_DUPLICATE");
  EXPECT_EQ(nlohmann::json::parse(lines[1]).at("duplicate_of"), "a");
}

TEST_F(CliTest, BadLinesAreNamedAndNeverLoseTheOthers) {
  std::string huge(3 * 1024 * 1024, 'w');
  for (size_t i = 100; i < huge.size(); i += 100) huge[i] = ' ';
  const std::string input = Write(
      "bad.jsonl",
      absl::StrCat(
          "{\"id\": \"ok1\", \"title\": \"Chile earthquake tsunami "
          "warning\"}\n",
          "{this is not json\n",                                       // line 2
          "{\"title\": \"no id here\"}\n",                             // line 3
          "{\"id\": \"noTitle\"}\n",                                   // line 4
          "{\"id\": \"empty\", \"title\": \"  \", \"text\": \"\"}\n",  // 5
          "{\"id\": \"bad-utf8\", \"title\": \"caf\xC3\x28\"}\n",      // line 6
          "{\"id\": \"ok1\", \"title\": \"another text, same id\"}\n",  // 7
          "{\"id\": \"big\", \"title\": \"huge\", \"text\": \"", huge, "\"}\n",
          "{\"id\": \"ok2\", \"title\": \"Central bank raises rates\"}\n"));
  const std::string output = (dir_ / "out.jsonl").string();
  RunResult r = Run(absl::StrCat("cluster ", input, " -o ", output));
  EXPECT_EQ(r.exit_code, 3) << r.err;  // output written, some lines rejected
  for (const char* expected :
       {"line 2: malformed JSON", "line 3: id: missing",
        "line 4: title: missing", "line 5: title: article has no text",
        "line 6:", "line 7: id ok1 was seen before with different content"}) {
    EXPECT_THAT(r.err, HasSubstr(expected));
  }
  EXPECT_THAT(r.err, Not(HasSubstr("line 8")));
  std::vector<std::string> lines =
      absl::StrSplit(ReadFile(output), '\n', absl::SkipEmpty());
  std::vector<std::string> ids;
  for (const std::string& line : lines) {
    ids.push_back(nlohmann::json::parse(line).at("article_id"));
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"ok1", "ok1", "big", "ok2"}));
  EXPECT_EQ(nlohmann::json::parse(lines[1]).at("version"), 2);
}

// Issue 33.5: `cluster` took articles the service refuses. One validation
// serves both (ValidateArticle): the same lines are refused, and named.
TEST_F(CliTest, ClusterRefusesWhatTheServiceRefuses) {
  const std::string long_id(600, 'x');
  const std::string ten_mb(10 * 1024 * 1024, 't');
  RunResult r = Run(absl::StrCat(
      "cluster ",
      Write(
          "refused.jsonl",
          absl::StrCat("{\"id\": \"nul\\u0000id\", \"title\": \"NUL in id\"}\n",
                       "{\"id\": \"", long_id, "\", \"title\": \"Long id\"}\n",
                       "{\"id\": \"far\", \"title\": \"Far future\", "
                       "\"published\": \"99999999-01-01T00:00:00Z\"}\n",
                       "{\"id\": \"huge\", \"title\": \"", ten_mb, "\"}\n",
                       "{\"id\": \"ok\", \"title\": \"Central bank raises "
                       "rates\"}\n"))));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("line 1: article.id: contains a NUL byte"));
  EXPECT_THAT(r.err, HasSubstr("line 2: article.id: 600 bytes exceeds"));
  EXPECT_THAT(r.err, HasSubstr("line 3:"));
  EXPECT_THAT(r.err, HasSubstr("line 4: article huge:"));
  EXPECT_THAT(r.err, Not(HasSubstr("line 5")));
  EXPECT_THAT(r.err, HasSubstr("(4 rejected)"));
}

// The server refuses dates far ahead of its clock; a batch replay of a
// file (a mixed or shifted corpus) takes every date as given.
TEST_F(CliTest, ClusterAcceptsDatesAheadOfTheClock) {
  RunResult r = Run(absl::StrCat(
      "cluster ", Write("future.jsonl",
                        "{\"id\": \"f1\", \"title\": \"Moon base opens\", "
                        "\"published\": \"2999-01-01T00:00:00Z\"}\n")));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(CliTest, MissingInputFileFailsClearly) {
  RunResult r = Run("cluster /nonexistent/input.jsonl");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/input.jsonl"));
}

TEST_F(CliTest, ClusterFailsClearlyWhenTheAnswersCannotBeWritten) {
  // /dev/full opens, and every write to it fails (no space left).
  RunResult r = Run(
      absl::StrCat("cluster ", Write("stories.jsonl", testing::StoriesJsonl()),
                   " -o /dev/full"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot write the answers to /dev/full"));
}

TEST_F(CliTest, EvalScoresLabelledFile) {
  RunResult r = Run(
      absl::StrCat("eval ", Write("stories.jsonl", testing::StoriesJsonl())));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("13 articles, 4 gold stories"));
  EXPECT_THAT(r.out, HasSubstr("F1=1.000"));
  EXPECT_THAT(r.out, HasSubstr("articles/s="));
}

// Issue 12.9: eval counted an article without text as rejected without a
// word, where `cluster` names the line and the reason.
TEST_F(CliTest, EvalReportsRejectedArticlesAsClusterDoes) {
  const std::string input =
      Write("stories.jsonl",
            absl::StrCat(testing::StoriesJsonl(),
                         "{\"id\": \"empty\", \"title\": \"\", \"text\": \"\", "
                         "\"story\": \"s9\"}\n"));
  RunResult r = Run(absl::StrCat("eval ", input));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("line 14: title: article has no text"));
  EXPECT_THAT(r.err, HasSubstr("1 articles rejected"));
  RunResult c = Run(absl::StrCat("cluster ", input));
  EXPECT_THAT(c.err, HasSubstr("line 14: title: article has no text"));
}

// Issue 12.9: a pairs file without one valid pair printed NaN scores and
// exited 0.
TEST_F(CliTest, EvalPairsWithoutAValidPairFails) {
  RunResult r = Run(absl::StrCat(
      "eval --pairs ",
      Write("pairs.jsonl", "{\"text1\": \"only one side\"}\nnot json\n")));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.err, HasSubstr("no valid pair"));
}

// An eval section with thresholds nothing can reach: every article
// becomes its own story (clusters=13 on the test stories).
constexpr char kNoJoinConfig[] =
    "[eval]\nshort-threshold = 0.99\nlong-threshold = 0.99\n"
    "same-time-factor = 1\nshort-merge = 0.99\nlong-merge = 0.99\n"
    "near-dup = 0.999\n";

TEST_F(CliTest, ConfigFileSetsFlagsPerCommand) {
  const std::string stories = Write("stories.jsonl", testing::StoriesJsonl());
  const std::string config = Write("newsdedup.toml", kNoJoinConfig);
  RunResult r = Run(absl::StrCat("--config ", config, " eval ", stories));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("clusters=13"));
  // Issue 13: a misspelt key is an error that names it, not ignored.
  r = Run(absl::StrCat("--config ",
                       Write("typo.toml", "[eval]\nshort-treshold = 0.99\n"),
                       " eval ", stories));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err + r.out, HasSubstr("short-treshold"));
  r = Run(absl::StrCat("--config /nonexistent/newsdedup.toml eval ", stories));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err + r.out, HasSubstr("/nonexistent/newsdedup.toml"));
  // Issue 14: replication keys in the file; a NATS server that is not
  // there stops the start with a message that says so.
  r = Run(absl::StrCat(
      "--config ",
      Write("replica.toml",
            "[serve]\nreplication-url = [\"nats://127.0.0.1:1\"]\n"
            "replication-stream = \"cfg\"\nlisten = \"127.0.0.1:0\"\n"
            "replication-connect-timeout-seconds = 1\n"
            "http-listen = \"\"\n"),
      " serve"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("connecting to NATS"));
}

// Issue 37: --config after the command works, its errors name the file
// (not "INI", CLI11's word for every config file), and `admin state`
// calls the default address as the client does.
TEST_F(CliTest, ConfigAfterTheCommandAndItsErrorsSayConfig) {
  const std::string stories = Write("stories.jsonl", testing::StoriesJsonl());
  const std::string config = Write("newsdedup.toml", kNoJoinConfig);
  RunResult r = Run(absl::StrCat("eval --config ", config, " ", stories));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("clusters=13"));
  r = Run(absl::StrCat("eval ", stories, " --config=", config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("clusters=13"));

  const std::string typo = Write("typo.toml", "[eval]\nshort-treshold = 0.5\n");
  r = Run(absl::StrCat("eval --config ", typo, " ", stories));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(typo + ": 'eval.short-treshold' is no flag"));
  EXPECT_THAT(r.err, Not(HasSubstr("INI")));

  r = Run("admin state");
  EXPECT_NE(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("required")));
}

TEST_F(CliTest, EvalPairsPrintsCorrelations) {
  const std::string pairs = Write(
      "pairs.jsonl",
      "{\"lang1\": \"en\", \"lang2\": \"en\", \"text1\": \"Summit in Budapest "
      "on hold\", \"text2\": \"Budapest summit put on hold\", \"overall\": "
      "1.0}\n"
      "{\"lang1\": \"en\", \"lang2\": \"en\", \"text1\": \"Earthquake in "
      "Chile\", \"text2\": \"Bank raises rates\", \"overall\": 4.0}\n"
      "{\"lang1\": \"de\", \"lang2\": \"de\", \"text1\": \"Gipfel in Budapest "
      "verschoben\", \"text2\": \"Gipfeltreffen in Budapest verschoben\", "
      "\"overall\": 1.5}\n"
      "{\"lang1\": \"de\", \"lang2\": \"de\", \"text1\": \"Erdbeben in "
      "Chile\", \"text2\": \"Zinsen steigen\", \"overall\": 3.5}\n");
  RunResult r = Run(absl::StrCat("eval --pairs ", pairs));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("pairs=4"));
  EXPECT_THAT(r.out, HasSubstr("auc_same_vs_diff=1.000"));
}

TEST_F(CliTest, TrainTokenizerWritesAModel) {
  std::string corpus;
  for (int i = 0; i < 300; ++i) {
    absl::StrAppend(&corpus, "{\"id\": \"", i, "\", \"title\": \"Story number ",
                    i,
                    " about summits, earthquakes and interest rates\", "
                    "\"text\": \"Gipfeltreffen verschoben; cumbre aplazada; ",
                    "sommet reporté ", i * 7, ".\"}\n");
  }
  const std::string input = Write("corpus.jsonl", corpus);
  const std::string prefix = (dir_ / "spm").string();
  RunResult r = Run(absl::StrCat("train-tokenizer ", input,
                                 " --vocab-size 200 --model-prefix ", prefix));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(prefix + ".model"));
  // The new model drives the engine.
  r = Run(absl::StrCat("eval ", Write("stories.jsonl", testing::StoriesJsonl()),
                       " --model ", prefix, ".model"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// Issue 15: the learned join model, trained, shipped back to eval, and
// a bad one refused with the line named.
TEST_F(CliTest, TrainScorerWritesAModelThatEvalUses) {
  const std::string stories = Write("stories.jsonl", testing::StoriesJsonl());
  const std::string model = (dir_ / "scorer.txt").string();
  RunResult r = Run(absl::StrCat("train-scorer ", stories, " ", stories, " -o ",
                                 model, " --folds 2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("2-fold cross-validation by story"));
  EXPECT_THAT(r.out, HasSubstr("round 2 (candidates from --scorer"));
  EXPECT_THAT(ReadFile(model), HasSubstr("# Trained by: newsdedup "
                                         "train-scorer "));
  EXPECT_FALSE(std::filesystem::exists(model + ".round1"));
  r = Run(absl::StrCat("eval ", stories, " --scorer ", model));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("log_hand_ratio="));  // its weights
  EXPECT_THAT(r.out, HasSubstr("B3 P="));
  r = Run(absl::StrCat("eval ", stories, " --scorer none"));
  EXPECT_THAT(r.out, HasSubstr("hand-set thresholds"));

  const std::string bad =
      Write("bad.txt", "newsdedup-story-scorer 1\nbias x\n");
  r = Run(absl::StrCat("eval ", stories, " --scorer ", bad));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("line 2"));
}

}  // namespace
}  // namespace newsdedup
