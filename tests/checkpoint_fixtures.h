// Fixtures shared by the tests of checkpoints, exports and resume: a small
// real model configuration, a training checkpoint of a model as mds-train
// writes one, and a section-by-section comparison of two containers.
#pragma once

#include <cstdint>

#include <gtest/gtest.h>

#include "io/container.h"
#include "model/model.h"

namespace mds::testing {

// A small MoE-DiffuSeq config (d 8, hidden 16, 2 heads, 2 experts top-1,
// window 4, 8 + 8 tokens, 50 diffusion steps) with `layers` layers.
inline ModelConfig small_model_config(int64_t vocab, int layers) {
  ModelConfig c;
  c.vocab_size = vocab;
  c.embed_dim = 8;
  c.hidden_dim = 16;
  c.layers = layers;
  c.heads = 2;
  c.ffn_dim = 32;
  c.time_embed_dim = 8;
  c.time_hidden_dim = 16;
  c.max_src_len = 8;
  c.max_trg_len = 8;
  c.attention_window = 4;
  c.moe_experts = 2;
  c.moe_top_k = 1;
  c.diffusion_steps = 50;
  return c;
}

// The core of a training checkpoint as mds-train writes it: the model's
// weights, EMA and optimizer moments, and the trainer's metadata at `step`.
// Callers add the config, the tokenizer and whatever else they test.
inline Container training_checkpoint_of(DiffusionModel& m, int64_t step) {
  Container c;
  c.kind = "checkpoint";
  c.source = "train.mds";
  m.save_state(c);
  c.meta["trainer"] = {{"format", 1}, {"step", step}, {"seed", 9}};
  return c;
}

// a and b hold the same sections: names, types, shapes and bytes.
inline void expect_same_sections(const Container& a, const Container& b) {
  ASSERT_EQ(a.sections.size(), b.sections.size());
  for (const auto& s : a.sections) {
    const Section* o = b.find(s.name);
    ASSERT_NE(o, nullptr) << s.name;
    EXPECT_EQ(s.dtype, o->dtype) << s.name;
    EXPECT_EQ(s.shape, o->shape) << s.name;
    EXPECT_TRUE(s.data == o->data) << "section " << s.name << " differs";
  }
}

}  // namespace mds::testing
