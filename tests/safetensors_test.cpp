// safetensors (lib/io/safetensors.h) and checkpoint conversion
// (lib/train/safetensors_io.h): the bytes of a small file are the layout the
// format defines (checked by hand, not by our own reader); every malformed
// header is refused with the file and byte offset; a checkpoint goes out and
// comes back with every weight bit-identical (f32) or rounded exactly once
// (bf16), its config and tokenizer; wrong names, shapes, dtypes and values
// are refused naming the tensor.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "runtime/factory.h"
#include "core/bf16.h"
#include "core/error.h"
#include "model/model.h"
#include "io/safetensors.h"
#include "text/tokenizer.h"
#include "train/safetensors_io.h"
#include "checkpoint_fixtures.h"

namespace mds {
namespace {

std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// A file from a header text and data bytes, with the little-endian length prefix.
std::vector<uint8_t> raw_file(const std::string& header, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(8);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::string error_of(const std::vector<uint8_t>& bytes) {
  try {
    decode_safetensors(bytes, "x.safetensors");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted a malformed file";
  return "";
}

TEST(Safetensors, WritesTheDefinedLayout) {
  SafeTensorsFile f;
  SafeTensor a;
  a.name = "a";
  a.dtype = DType::f32;
  a.shape = {2};
  const float v[2] = {1.0f, -2.0f};
  a.data.resize(8);
  std::memcpy(a.data.data(), v, 8);
  SafeTensor b;
  b.name = "b.w";
  b.dtype = DType::bf16;
  b.shape = {1, 1};
  b.data = {0x80, 0x3f};  // 1.0 in bf16, little-endian
  f.tensors = {a, b};
  f.metadata["k"] = "v";
  const std::vector<uint8_t> out = encode_safetensors(f);

  const std::string want_header =
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b.w":{"dtype":"BF16","shape":[1,1],"data_offsets":[8,10]}})";
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(out[i]) << (8 * i);
  EXPECT_EQ(n % 8, 0u) << "the header is padded so the data starts 8-aligned";
  ASSERT_EQ(out.size(), 8 + n + 10);
  const std::string header(out.begin() + 8, out.begin() + 8 + static_cast<long>(n));
  EXPECT_EQ(header.substr(0, want_header.size()), want_header);
  EXPECT_EQ(header.find_first_not_of(' ', want_header.size()), std::string::npos) << "padding is spaces";
  EXPECT_EQ(0, std::memcmp(out.data() + 8 + n, v, 8));
  EXPECT_EQ(out[8 + n + 8], 0x80);
  EXPECT_EQ(out[8 + n + 9], 0x3f);

  const SafeTensorsFile back = decode_safetensors(out, "mem");
  ASSERT_EQ(back.tensors.size(), 2u);
  EXPECT_EQ(back.tensors[0].name, "a");
  EXPECT_EQ(back.tensors[0].data, a.data);
  EXPECT_EQ(back.tensors[1].name, "b.w");
  EXPECT_EQ(back.tensors[1].dtype, DType::bf16);
  EXPECT_EQ(back.tensors[1].shape, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(back.metadata.at("k"), "v");
}

TEST(Safetensors, ReadsAFileWrittenElsewhereInAnyKeyOrder) {
  // Keys out of data order, no padding, no metadata: as other writers may do.
  const std::string h =
      R"({"second":{"dtype":"I32","shape":[1],"data_offsets":[2,6]},"first":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
  const SafeTensorsFile f = decode_safetensors(raw_file(h, {7, 8, 1, 0, 0, 0}), "mem");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].name, "first");
  EXPECT_EQ(f.tensors[1].name, "second");
  EXPECT_EQ(f.tensors[1].data, (std::vector<uint8_t>{1, 0, 0, 0}));
  EXPECT_TRUE(f.metadata.empty());
}

TEST(Safetensors, RefusesMalformedFilesNamingTheOffset) {
  EXPECT_NE(error_of(bytes_of("abc")).find("x.safetensors: byte 0: expected a safetensors file"), std::string::npos);
  std::vector<uint8_t> big = raw_file("{}", {});
  big[0] = 200;  // header length 200 > the 2 bytes that follow
  EXPECT_NE(error_of(big).find("exceeds the rest of the file"), std::string::npos);
  EXPECT_NE(error_of(raw_file("{\"a\":", {})).find("header JSON"), std::string::npos);
  EXPECT_NE(error_of(raw_file("[1]", {})).find("expected the header to be a JSON object, found array"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", {0}))
                .find("dtype \"F8\" is not one mds reads"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", {0, 0, 0, 0}))
                .find("list of integers >= 0"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", {0, 0, 0, 0}))
                .find("span 4 bytes, expected 8"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", {0, 0, 0, 0}))
                .find("past the end of the file (truncated?)"),
            std::string::npos);
  // A hole before the first tensor, an overlap, and bytes after the last.
  EXPECT_NE(error_of(raw_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", {0, 0}))
                .find("a hole in the data"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                              R"("b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})",
                              {0, 0, 0}))
                .find("overlaps the tensor before"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", {0, 9}))
                .find("expected the end of the file (1 more bytes)"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"__metadata__":{"k":1}})", {})).find("metadata \"k\" is number, expected a string"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"a":{"dtype":"U8"}})", {})).find("\"dtype\", \"shape\" and \"data_offsets\""),
            std::string::npos);
}

TEST(Safetensors, RefusesToWriteInconsistentTensors) {
  SafeTensorsFile f;
  SafeTensor t;
  t.name = "a";
  t.shape = {3};
  t.data.resize(8);  // f32 x 3 needs 12
  f.tensors = {t};
  EXPECT_THROW(encode_safetensors(f), Error);
  t.data.resize(12);
  f.tensors = {t, t};
  EXPECT_THROW(encode_safetensors(f), Error);  // duplicate name
}

// ---- checkpoint conversion -------------------------------------------------

// Two layers: one dense and one MoE.
ModelConfig small_config(int64_t vocab) {
  ModelConfig c = testing::small_model_config(vocab, 2);
  c.moe_every = 2;
  return c;
}

struct Fixture {
  std::shared_ptr<Backend> be = make_backend("cpu", 1);
  Tokenizer tok;
  std::unique_ptr<DiffusionModel> model;
  Container ck;
  Fixture() {
    tok.set_samples({"hello world", "safetensors"});
    model = make_model(small_config(static_cast<int64_t>(tok.vocab_size())), be, 1);
    for (auto& p : model->params().all()) be->scale(p.value, 1.5);  // weights differ from their EMA
    ck = testing::training_checkpoint_of(*model, 3);
    ck.meta["config"] = {{"model", model_config_to_json(model->config())}, {"train", {{"steps", 3}}}};
    tok.add_to(ck, "tokenizer/");
    // Through a file, as the tools see a checkpoint (JSON integers come back unsigned).
    const std::string path = ::testing::TempDir() + "safetensors_test_ck.mds";
    write_container(path, ck);
    ck = read_container(path, "checkpoint");
    ck.source = "train.mds";
    std::remove(path.c_str());
  }
};

TEST(SafetensorsCheckpoint, RoundTripsWeightsEmaConfigAndTokenizer) {
  Fixture fx;
  train::SafetensorsExportOptions opt;
  opt.weight_dtype = DType::f32;
  opt.ema = true;
  SafeTensorsFile f = train::checkpoint_to_safetensors(fx.ck, opt);
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.metadata.at("mds.weights"), "weights");
  ASSERT_NE(f.find("layer.1.moe.w1"), nullptr);
  ASSERT_NE(f.find("ema.layer.0.ffn.0.weight"), nullptr);
  EXPECT_EQ(f.find("layer.1.moe.w1")->shape, (std::vector<int64_t>{2, 32, 16}));
  EXPECT_EQ(f.tensors.size(), 2 * fx.model->params().size());

  // Through the bytes, as a file would go.
  f = decode_safetensors(encode_safetensors(f), "model.safetensors");
  const Container back = train::safetensors_to_checkpoint(f);
  EXPECT_EQ(back.meta["config"], fx.ck.meta["config"]);
  EXPECT_EQ(Tokenizer::from_embedded(back).hash(), fx.tok.hash());
  EXPECT_FALSE(back.meta.contains("export"));
  EXPECT_EQ(back.meta["imported"]["from"]["step"], 3);
  for (const auto& p : fx.model->params().all()) {
    EXPECT_EQ(back.section("param/" + p.name).data, fx.ck.section("param/" + p.name).data) << p.name;
    EXPECT_EQ(back.section("ema/" + p.name).data, fx.ck.section("ema/" + p.name).data) << p.name;
  }
  // A model loads it and has the original EMA weights.
  auto m = make_model(fx.model->config(), fx.be, 5);
  m->load_state(back);
  for (size_t k = 0; k < m->params().size(); ++k) {
    std::vector<float> a(size_t(m->params().at(int(k)).ema.numel())), b(a.size());
    fx.be->download(m->params().at(int(k)).ema, a.data());
    fx.be->download(fx.model->params().at(int(k)).ema, b.data());
    EXPECT_EQ(a, b) << m->params().at(int(k)).name;
  }
}

TEST(SafetensorsCheckpoint, Bf16WithoutEmaImportsAsASamplingCheckpoint) {
  Fixture fx;
  const SafeTensorsFile f = train::checkpoint_to_safetensors(fx.ck, {});
  EXPECT_EQ(f.tensors.size(), fx.model->params().size());
  const Container back = train::safetensors_to_checkpoint(f);
  EXPECT_EQ(back.meta["export"]["weights"], "ema");
  EXPECT_EQ(back.meta["export"]["dtype"], "bf16");
  for (const auto& p : fx.model->params().all()) {
    const Section& s = back.section("param/" + p.name);
    ASSERT_EQ(s.dtype, DType::bf16);
    const std::vector<float> w = fx.ck.section("param/" + p.name).to_vector<float>();
    for (size_t i = 0; i < w.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, s.data.data() + 2 * i, 2);
      ASSERT_EQ(h, float_to_bf16(w[i])) << p.name << "[" << i << "]";
    }
    EXPECT_EQ(back.find("ema/" + p.name), nullptr);
  }
  // Exported again from the sampling checkpoint: the same tensors, marked as EMA.
  const SafeTensorsFile again = train::checkpoint_to_safetensors(back, {});
  EXPECT_EQ(again.metadata.at("mds.weights"), "ema");
  for (const SafeTensor& t : f.tensors) EXPECT_EQ(again.find(t.name)->data, t.data) << t.name;
  train::SafetensorsExportOptions with_ema;
  with_ema.ema = true;
  EXPECT_THROW(train::checkpoint_to_safetensors(back, with_ema), Error);
}

std::string import_error(const SafeTensorsFile& f) {
  try {
    train::safetensors_to_checkpoint(f);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "imported a bad file";
  return "";
}

TEST(SafetensorsCheckpoint, ImportChecksEveryNameShapeDtypeAndValue) {
  Fixture fx;
  train::SafetensorsExportOptions opt;
  opt.weight_dtype = DType::f32;
  SafeTensorsFile good = train::checkpoint_to_safetensors(fx.ck, opt);
  good.source = "m.safetensors";

  SafeTensorsFile f = good;
  f.tensors.erase(f.tensors.begin() + 3);
  EXPECT_NE(import_error(f).find("m.safetensors: tensor \"" + good.tensors[3].name + "\" is missing"),
            std::string::npos);

  f = good;
  f.tensors[0].name = "word_embeddings";
  EXPECT_NE(import_error(f).find("tensor \"word_embeddings\" is not a parameter"), std::string::npos);

  f = good;
  SafeTensor* w = nullptr;
  for (auto& t : f.tensors)
    if (t.name == "layer.0.attention.out.weight") w = &t;
  ASSERT_NE(w, nullptr);
  std::swap(w->shape[0], w->shape[1]);
  w->shape = {w->shape[0] * w->shape[1]};
  EXPECT_NE(import_error(f).find("tensor \"layer.0.attention.out.weight\" has shape [256], the model its metadata "
                                 "configures expects [16,16]"),
            std::string::npos);

  f = good;
  for (auto& t : f.tensors)
    if (t.name == "mean_embed") {
      const float nan = std::numeric_limits<float>::quiet_NaN();
      std::memcpy(t.data.data() + 4 * 5, &nan, 4);
    }
  EXPECT_NE(import_error(f).find("tensor \"mean_embed\" holds NaN at element 5"), std::string::npos);

  f = good;
  f.tensors[1].dtype = DType::f16;
  f.tensors[1].data.resize(f.tensors[1].data.size() / 2);
  EXPECT_NE(import_error(f).find("is F16, expected F32 or BF16"), std::string::npos);

  f = good;
  f.tensors.push_back(f.tensors[0]);
  f.tensors.back().name = "ema." + f.tensors[0].name;  // one EMA tensor: then all are needed
  EXPECT_NE(import_error(f).find("is missing (the file holds EMA tensors"), std::string::npos);

  f = good;
  f.metadata.erase("mds.config");
  EXPECT_NE(import_error(f).find("no metadata \"mds.config\""), std::string::npos);

  f = good;
  nlohmann::json cfg = nlohmann::json::parse(f.metadata["mds.config"]);
  cfg["model"]["hidden_dim"] = 24;  // every hidden-size tensor now mismatches
  f.metadata["mds.config"] = cfg.dump();
  EXPECT_NE(import_error(f).find("has shape"), std::string::npos);

  f = good;
  nlohmann::json tj = nlohmann::json::parse(f.metadata["mds.tokenizer"]);
  tj["meta"]["hash"] = "fnv1a64:0000000000000000";
  f.metadata["mds.tokenizer"] = tj.dump();
  EXPECT_NE(import_error(f).find("mds.tokenizer"), std::string::npos);
}

}  // namespace
}  // namespace mds
