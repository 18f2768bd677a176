#include "services/engine/internal/record_strings.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace newsdedup {
namespace internal {
namespace {

TEST(RecordStringsTest, KeepsEachFieldApartIncludingEmptyOnes) {
  const RecordStrings strings("a-1", "Quake hits Chile", "",
                              "quake\x1f"
                              "chile");
  EXPECT_EQ(strings.id(), "a-1");
  EXPECT_EQ(strings.title(), "Quake hits Chile");
  EXPECT_EQ(strings.url(), "");
  EXPECT_EQ(strings.shared_terms(),
            "quake\x1f"
            "chile");
}

TEST(RecordStringsTest, EmptyStringsHoldNothing) {
  const RecordStrings none;
  EXPECT_EQ(none.id(), "");
  EXPECT_EQ(none.shared_terms(), "");
  const RecordStrings empty("", "", "", "");
  EXPECT_EQ(empty.title(), "");
  EXPECT_EQ(empty.url(), "");
}

TEST(RecordStringsTest, BytesAreKeptAsGivenNulsIncluded) {
  const std::string title("a\0b", 3);
  const RecordStrings strings("id", title, "https://example.org/x");
  EXPECT_EQ(strings.title(), title);
  EXPECT_EQ(strings.url(), "https://example.org/x");
  EXPECT_EQ(strings.shared_terms(), "");
}

TEST(RecordStringsTest, SharedTermsAreSetLaterAndTheRestStays) {
  RecordStrings strings("id-7", "A long enough title to live on the heap",
                        "https://example.org/7");
  strings.set_shared_terms(
      "fire\x1f"
      "warehouse");
  EXPECT_EQ(strings.id(), "id-7");
  EXPECT_EQ(strings.title(), "A long enough title to live on the heap");
  EXPECT_EQ(strings.url(), "https://example.org/7");
  EXPECT_EQ(strings.shared_terms(),
            "fire\x1f"
            "warehouse");
  // The same terms again keep the block the strings are in.
  const char* title = strings.title().data();
  strings.set_shared_terms(
      "fire\x1f"
      "warehouse");
  EXPECT_EQ(strings.title().data(), title);
  strings.set_shared_terms("");
  EXPECT_EQ(strings.shared_terms(), "");
  EXPECT_EQ(strings.title(), "A long enough title to live on the heap");
}

TEST(RecordStringsTest, CopiesAreDeepAndMovesLeaveTheSourceEmpty) {
  RecordStrings original("id", "title", "url", "terms");
  RecordStrings copy = original;
  original.set_shared_terms("other");
  EXPECT_EQ(copy.shared_terms(), "terms");
  EXPECT_EQ(original.shared_terms(), "other");
  copy = copy;  // self-assignment keeps the strings
  EXPECT_EQ(copy.title(), "title");

  RecordStrings moved = std::move(copy);
  EXPECT_EQ(moved.id(), "id");
  EXPECT_EQ(moved.url(), "url");
  copy = moved;  // a moved-from object can be assigned again
  EXPECT_EQ(copy.title(), "title");
}

}  // namespace
}  // namespace internal
}  // namespace newsdedup
