// The HeartMuLa language model: backbone + depth decoder + embeddings and heads, as plain
// tensors whose names are the checkpoint keys (see docs/model.md for the key table).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/linear.h"
#include "model/transformer.h"

namespace heartmula::io {
class WeightBinder;
}

namespace heartmula::model {

struct LoadStats {
  size_t tensors = 0;
  size_t bytes_read = 0;
  size_t bytes_loaded = 0;
  double seconds = 0.0;
  std::vector<std::string> unexpected;  // checkpoint keys the model does not use (callers warn)
};

// Shapes: Db backbone width, Dd decoder width, V audio_vocab_size, N audio_num_codebooks,
// R rows of a batch (songs, times 2 with CFG), S positions.
struct HeartMuLaModel {
  HeartMuLaConfig config;
  c10::ScalarType dtype = c10::ScalarType::Float;  // compute dtype
  WeightQuant weights = WeightQuant::None;         // how the linear weights are held
  c10::Device device = c10::Device(c10::DeviceType::CPU);

  TransformerStack backbone;
  TransformerStack decoder;
  at::Tensor text_embeddings;               // [text_vocab, Db]   text_embeddings.weight (host memory)
  at::Tensor audio_embeddings;              // [V * N, Db]        audio_embeddings.weight
  at::Tensor unconditional_text_embedding;  // [1, Db]            unconditional_text_embedding.weight
  Linear projection;                        // [Dd, Db]           projection.weight
  // The heads' vocabulary rows are padded with zero rows to a multiple of 64 on CUDA (Vp >= V;
  // Vp = V elsewhere): cuBLAS reads an [8197, D] weight at a fraction of the bandwidth it
  // reaches for [8256, D]. The logits of the padded rows are never looked at.
  Linear codebook0_head;         // [Vp, Db]           codebook0_head.weight
  Linear audio_head;             // [N - 1, Vp, Dd]    audio_head (stored [N-1, Dd, V]; transposed at load;
                                 //                    int8 checkpoints: audio_head_scale [N-1, V])
  at::Tensor muq_linear_weight;  // [Db, muq_dim]      muq_linear.weight
  at::Tensor muq_linear_bias;    // [Db]               muq_linear.bias

  // Reads <dir>/config.json and the safetensors in <dir> (single or sharded), converting every
  // tensor from its stored dtype to `dtype` (float32, bfloat16 or float16) on `device`.
  // All mismatches are reported together in one Error.
  static HeartMuLaModel load(const std::string& dir, c10::ScalarType dtype, c10::Device device,
                             LoadStats* stats = nullptr);
  // The same for any precision: int8 quantizes the linear weights of a float checkpoint as they
  // load, or takes those of a heartmula-quantize checkpoint as they are (the same bytes).
  static HeartMuLaModel load(const std::string& dir, LmPrecision precision, c10::Device device,
                             LoadStats* stats = nullptr);
  // Declares every parameter with its checkpoint key and expected shape; `stored_int8`: the
  // checkpoint holds int8 linear weights with their scales.
  void declare(io::WeightBinder& binder, bool stored_int8 = false);

  LmPrecision precision() const { return {dtype, weights}; }
  int64_t num_codebooks() const { return config.audio_num_codebooks; }
  int64_t audio_vocab() const { return config.audio_vocab_size; }

  // Input rows: tokens, mask [R, S, N+1] (int64, bool; lanes 0..N-1 audio codes, lane N text).
  // Sum over lanes of embedding * mask; rows with uncond_rows[r] true use the unconditional
  // text embedding for their text lane. uncond_rows [R] bool or undefined. -> [R, S, Db].
  // text_lane false: the rows' text lane is masked out (the frames): its embedding is not looked
  // up (the text table lives in host memory), the result is the same.
  at::Tensor embed_rows(const at::Tensor& tokens, const at::Tensor& mask, const at::Tensor& uncond_rows,
                        bool text_lane = true) const;
  // The MuQ slot's embedding: muq_linear(zeros(muq_dim)) for conditional rows, the
  // unconditional text embedding for uncond_rows. -> [R, Db].
  at::Tensor muq_slot_embedding(int64_t rows, const at::Tensor& uncond_rows) const;
  // audio_embeddings(tokens + codebook * V): tokens [R, 1] int64 -> [R, 1, Db].
  at::Tensor embed_audio(int64_t codebook, const at::Tensor& tokens) const;
  // projection: [..., Db] -> [..., Dd].
  at::Tensor project(const at::Tensor& x) const;
  // codebook0_head(h): h [R, Db] -> logits [R, V] float32.
  at::Tensor codebook0_logits(const at::Tensor& h) const;
  // The same in the compute dtype with the padded columns: [R, Vp] (first V columns used).
  at::Tensor codebook0_logits_padded(const at::Tensor& h) const;
  at::Tensor audio_logits_padded(int64_t codebook, const at::Tensor& h) const;
  // h @ checkpoint audio_head[codebook - 1] for codebook 1..N-1: h [R, Dd] -> logits [R, V] float32.
  at::Tensor audio_logits(int64_t codebook, const at::Tensor& h) const;
};

}  // namespace heartmula::model
