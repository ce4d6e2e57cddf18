// Tests of token shards: multi-unit write/read, reading across files and
// concatenated files, empty shards, rejection of malformed units, and the end
// unit that shows a file cut after one of its units.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <unistd.h>

#include "core/error.h"
#include "data/shard.h"
#include "io/container.h"
#include "test_files.h"

namespace fs = std::filesystem;

namespace {

class Shard : public mds::testing::TempDirTest {
 protected:

  static std::vector<mds::Record> random_records(size_t n, uint32_t vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<mds::Record> out(n);
    for (auto& r : out) {
      r.src.resize(rng() % 50);
      r.trg.resize(rng() % 20);
      for (auto& id : r.src) id = 4 + rng() % (vocab - 4);
      for (auto& id : r.trg) id = 4 + rng() % (vocab - 4);
    }
    return out;
  }
  static mds::ShardInfo info(const std::string& hash = "fnv1a64:0000000000000001") {
    mds::ShardInfo i;
    i.vocab_size = 500;
    i.tokenizer_hash = hash;
    i.max_src_len = 64;
    i.max_trg_len = 32;
    return i;
  }
  void write(const std::string& p, const std::vector<mds::Record>& recs, size_t per_unit,
             const mds::ShardInfo& inf) {
    mds::ShardWriter w(p, inf, per_unit);
    for (const auto& r : recs) w.add(r);
    w.finish();
  }
  // Reads `p` expecting a bad-input error; returns its message.
  static std::string read_error(const std::vector<std::string>& paths) {
    try {
      mds::read_all_records(paths);
    } catch (const mds::Error& e) {
      EXPECT_EQ(e.code(), mds::ExitCode::bad_input);
      return e.what();
    }
    ADD_FAILURE() << "read succeeded but should have failed";
    return "";
  }

};

bool same(const std::vector<mds::Record>& a, const std::vector<mds::Record>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].src != b[i].src || a[i].trg != b[i].trg) return false;
  return true;
}

TEST_F(Shard, ManyUnitsRoundTrip) {
  auto recs = random_records(100, 500, 1);
  mds::ShardWriter w(path("a.mds"), info(), 7);
  for (const auto& r : recs) w.add(r.src.data(), r.src.size(), r.trg.data(), r.trg.size(), r.src.size() > 40, false);
  w.finish();
  EXPECT_EQ(w.units(), 15u);  // ceil(100 / 7)
  mds::ShardInfo got;
  EXPECT_TRUE(same(mds::read_all_records({path("a.mds")}, &got), recs));
  EXPECT_EQ(got.vocab_size, 500u);
  EXPECT_EQ(got.tokenizer_hash, "fnv1a64:0000000000000001");
  EXPECT_EQ(got.max_src_len, 64u);

  // Unit metadata carries counts; truncated_src sums to the flagged records.
  mds::ShardReader reader({path("a.mds")});
  mds::ShardUnit u;
  uint64_t truncated = 0, records = 0;
  while (reader.next_unit(u)) {
    truncated += u.meta["truncated_src"].get<uint64_t>();
    records += u.meta["records"].get<uint64_t>();
    EXPECT_EQ(u.meta["truncate"], "end");
  }
  uint64_t want = 0;
  for (const auto& r : recs) want += r.src.size() > 40;
  EXPECT_EQ(truncated, want);
  EXPECT_EQ(records, 100u);
}

TEST_F(Shard, BackgroundWritingGivesTheSameBytes) {
  auto recs = random_records(200, 500, 11);
  for (bool background : {false, true}) {
    mds::ShardWriter w(path(background ? "bg.mds" : "fg.mds"), info(), 9, mds::ShardWriter::kIdsPerUnit, background);
    for (const auto& r : recs) w.add(r);
    w.finish();
  }
  auto slurp = [](const std::string& p) {
    auto b = mds::read_all_bytes(p);
    return std::string(b.begin(), b.end());
  };
  EXPECT_EQ(slurp(path("bg.mds")), slurp(path("fg.mds")));
  EXPECT_TRUE(same(mds::read_all_records({path("bg.mds")}), recs));
  // Abandoning a background writer (as on an error) leaves no file.
  {
    mds::ShardWriter w(path("gone.mds"), info(), 3, mds::ShardWriter::kIdsPerUnit, true);
    for (const auto& r : recs) w.add(r);
  }
  EXPECT_FALSE(fs::exists(path("gone.mds")));
}

TEST_F(Shard, UnitsAlsoSplitByIdCount) {
  auto recs = random_records(50, 500, 2);
  mds::ShardWriter w(path("b.mds"), info(), 8192, /*ids_per_unit=*/100);
  for (const auto& r : recs) w.add(r);
  w.finish();
  EXPECT_GT(w.units(), 5u);
  EXPECT_TRUE(same(mds::read_all_records({path("b.mds")}), recs));
}

TEST_F(Shard, ReadsAcrossFilesAndConcatenations) {
  auto a = random_records(10, 500, 3), b = random_records(13, 500, 4);
  write(path("a.mds"), a, 4, info());
  write(path("b.mds"), b, 5, info());
  auto ab = a;
  ab.insert(ab.end(), b.begin(), b.end());
  EXPECT_TRUE(same(mds::read_all_records({path("a.mds"), path("b.mds")}), ab));
  // cat a.mds b.mds > ab.mds is one valid shard.
  {
    std::ofstream out(path("ab.mds"), std::ios::binary);
    for (const char* n : {"a.mds", "b.mds"}) {
      std::ifstream in(path(n), std::ios::binary);
      out << in.rdbuf();
    }
  }
  EXPECT_TRUE(same(mds::read_all_records({path("ab.mds")}), ab));
}

TEST_F(Shard, EmptyShardIsOneEmptyUnit) {
  mds::ShardWriter w(path("e.mds"), info());
  w.finish();
  EXPECT_EQ(w.units(), 1u);
  EXPECT_TRUE(mds::read_all_records({path("e.mds")}).empty());
  // Empty records are kept as records.
  std::vector<mds::Record> blanks(3);
  write(path("blank.mds"), blanks, 2, info());
  EXPECT_EQ(mds::read_all_records({path("blank.mds")}).size(), 3u);
}

TEST_F(Shard, MixedTokenizersAreRejected) {
  write(path("a.mds"), random_records(3, 500, 5), 10, info("fnv1a64:00000000000000aa"));
  write(path("b.mds"), random_records(3, 500, 6), 10, info("fnv1a64:00000000000000bb"));
  const std::string err = read_error({path("a.mds"), path("b.mds")});
  EXPECT_NE(err.find(path("b.mds")), std::string::npos) << err;
  EXPECT_NE(err.find("one tokenizer"), std::string::npos) << err;
}

// Writes a single unit with the given sections, to test validation.
void write_unit(const std::string& p, const mds::ShardUnit& u) {
  mds::write_container(p, mds::shard_unit_to_container(u));
}

mds::ShardUnit valid_unit() {
  mds::ShardUnit u;
  u.meta = {{"format", 1}, {"records", 2}, {"vocab_size", 100}, {"tokenizer_hash", "fnv1a64:0000000000000001"}};
  u.src_offsets = {0, 2, 3};
  u.src_ids = {10, 11, 12};
  u.trg_offsets = {0, 1, 1};
  u.trg_ids = {50};
  return u;
}

TEST_F(Shard, MalformedUnitsAreRejected) {
  write_unit(path("ok.mds"), valid_unit());
  EXPECT_EQ(mds::read_all_records({path("ok.mds")}).size(), 2u);

  auto u = valid_unit();
  u.src_offsets = {0, 3, 2};
  write_unit(path("dec.mds"), u);
  std::string err = read_error({path("dec.mds")});
  EXPECT_NE(err.find("src_offsets"), std::string::npos) << err;
  EXPECT_NE(err.find("unit 0 at offset 0"), std::string::npos) << err;

  u = valid_unit();
  u.trg_offsets = {0, 1};
  write_unit(path("short.mds"), u);
  EXPECT_NE(read_error({path("short.mds")}).find("records + 1 = 3"), std::string::npos);

  u = valid_unit();
  u.trg_ids = {100};
  write_unit(path("range.mds"), u);
  err = read_error({path("range.mds")});
  EXPECT_NE(err.find("record 0 holds id 100"), std::string::npos) << err;

  u = valid_unit();
  u.src_ids = {10, 2, 12};  // [SEP] must not be stored
  write_unit(path("special.mds"), u);
  EXPECT_NE(read_error({path("special.mds")}).find("holds id 2"), std::string::npos);

  u = valid_unit();
  u.meta.erase("tokenizer_hash");
  write_unit(path("meta.mds"), u);
  EXPECT_NE(read_error({path("meta.mds")}).find("tokenizer_hash"), std::string::npos);

  u = valid_unit();
  u.meta["format"] = 3;
  write_unit(path("newer.mds"), u);
  EXPECT_NE(read_error({path("newer.mds")}).find("upgrade mds"), std::string::npos);

  mds::Container other;
  other.kind = "tokenizer";
  mds::write_container(path("kind.mds"), other);
  EXPECT_NE(read_error({path("kind.mds")}).find("kind \"tokenizer\""), std::string::npos);
}

TEST_F(Shard, TruncatedFileIsRejected) {
  write(path("t.mds"), random_records(40, 500, 7), 10, info());
  fs::resize_file(path("t.mds"), fs::file_size(path("t.mds")) - 5);
  const std::string err = read_error({path("t.mds")});
  EXPECT_NE(err.find(path("t.mds")), std::string::npos) << err;
}

// Byte offsets at which each unit of a file starts, and the file size.
std::vector<uint64_t> unit_offsets(const std::string& p) {
  mds::ContainerReader r(p);
  std::vector<uint64_t> out;
  mds::Container c;
  for (;;) {
    const uint64_t off = r.offset();
    if (!r.next(c)) break;
    out.push_back(off);
  }
  out.push_back(r.offset());
  return out;
}

void copy_prefix(const std::string& from, const std::string& to, uint64_t bytes) {
  std::ifstream in(from, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(to, std::ios::binary) << data.substr(0, bytes);
}

TEST_F(Shard, FileEndsWithAnEndUnit) {
  write(path("a.mds"), random_records(25, 500, 11), 10, info());
  const auto offs = unit_offsets(path("a.mds"));
  ASSERT_EQ(offs.size(), 5u);  // 3 data units, the end unit, the file size
  mds::ContainerReader r(path("a.mds"));
  mds::Container c;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(r.next(c));
  EXPECT_EQ(c.kind, mds::kShardEndKind);
  EXPECT_EQ(c.meta["units"], 3);
  EXPECT_EQ(c.meta["records"], 25);
  EXPECT_EQ(c.meta["format"], 2);
  EXPECT_TRUE(c.sections.empty());
}

// A shard cut right after one of its units (mds-tokenize encode -o - killed
// mid-way) is a valid stream of units: only the missing end unit shows it.
TEST_F(Shard, CutAtAUnitBoundaryIsRejected) {
  write(path("a.mds"), random_records(25, 500, 12), 10, info());
  const auto offs = unit_offsets(path("a.mds"));
  for (size_t k = 1; k <= 3; ++k) {  // after data unit 0, 1 and 2
    const std::string cut = path("cut" + std::to_string(k) + ".mds");
    copy_prefix(path("a.mds"), cut, offs[k]);
    const std::string err = read_error({cut});
    EXPECT_NE(err.find(cut + ": offset " + std::to_string(offs[k]) + ": the shard ends after the unit at offset " +
                       std::to_string(offs[k - 1]) + " without its end unit"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  }
  // Also when the cut file is followed by a whole one (cat cut.mds b.mds).
  write(path("b.mds"), random_records(5, 500, 13), 10, info());
  {
    std::ofstream out(path("cb.mds"), std::ios::binary);
    for (const char* n : {"cut2.mds", "b.mds"}) {
      std::ifstream in(path(n), std::ios::binary);
      out << in.rdbuf();
    }
  }
  const std::string err = read_error({path("cb.mds")});
  EXPECT_NE(err.find("the end unit counts 1 units but 3 precede it since offset 0"), std::string::npos) << err;
}

TEST_F(Shard, EndUnitCountsAreChecked) {
  write(path("a.mds"), random_records(25, 500, 14), 10, info());
  const auto offs = unit_offsets(path("a.mds"));
  // Unit 1 dropped from the middle: the end unit's counts no longer match.
  {
    std::ifstream in(path("a.mds"), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(path("gap.mds"), std::ios::binary) << data.substr(0, offs[1]) + data.substr(offs[2]);
  }
  std::string err = read_error({path("gap.mds")});
  EXPECT_NE(err.find(path("gap.mds") + ": unit 2 at offset"), std::string::npos) << err;
  EXPECT_NE(err.find("the end unit counts 3 units but 2 precede it"), std::string::npos) << err;
  // An end unit alone, and one with a section.
  mds::Container end;
  end.kind = mds::kShardEndKind;
  end.meta = {{"format", 2}, {"units", 0}, {"records", 0}, {"src_tokens", 0}, {"trg_tokens", 0}};
  mds::write_container(path("alone.mds"), end);
  EXPECT_NE(read_error({path("alone.mds")}).find("no data units before it"), std::string::npos);
  end.add(mds::Section::from<uint32_t>("x", std::vector<uint32_t>{1}));
  mds::write_container(path("sect.mds"), end);
  EXPECT_NE(read_error({path("sect.mds")}).find("holds no sections"), std::string::npos);
}

// Format-1 shards (before end units) are still read, alone and concatenated
// with format-2 ones; a format-2 run cut before a format-1 unit is not.
TEST_F(Shard, Format1ShardsWithoutEndUnitsStillRead) {
  write_unit(path("old.mds"), valid_unit());
  EXPECT_EQ(mds::read_all_records({path("old.mds")}).size(), 2u);
  auto recs_of = [&](std::vector<const char*> names) {
    std::ofstream out(path("cat.mds"), std::ios::binary | std::ios::trunc);
    for (const char* n : names) {
      std::ifstream in(path(n), std::ios::binary);
      out << in.rdbuf();
    }
    out.close();
    return path("cat.mds");
  };
  mds::ShardInfo i = info();
  i.vocab_size = 100;
  write(path("new.mds"), random_records(5, 100, 15), 10, i);
  EXPECT_EQ(mds::read_all_records({recs_of({"old.mds", "new.mds"})}).size(), 7u);
  EXPECT_EQ(mds::read_all_records({recs_of({"new.mds", "old.mds"})}).size(), 7u);
  const auto offs = unit_offsets(path("new.mds"));
  copy_prefix(path("new.mds"), path("newcut.mds"), offs[1]);
  const std::string err = read_error({recs_of({"newcut.mds", "old.mds"})});
  EXPECT_NE(err.find("a format 1 unit follows 1 format 2 unit(s)"), std::string::npos) << err;
}

}  // namespace
