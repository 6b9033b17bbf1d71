using Qwen3Gen;

namespace Qwen3Gen.Definitions;

// The official Qwen3-MoE sizes (spec §8): every layer sparse (decoder_sparse_step 1, no mlp_only_layers),
// 128 experts, 8 per token, renormalised top-k, head_dim 128, separate LM head, rope_theta 1e6.
// intermediate_size is unused (no dense layer) but kept as in config.json.

/// <summary>Qwen3-30B-A3B: 48 layers, hidden 2048, 32 / 4 heads, 128 experts of 768, 8 active.</summary>
[Qwen3Model(Vocab = 151_936, Hidden = 2048, Layers = 48, Heads = 32, KvHeads = 4, HeadDim = 128,
            Ffn = 6144, RopeTheta = 1e6, TieEmbeddings = false, MaxPositions = 40_960,
            Experts = 128, ExpertsPerToken = 8, ExpertFfn = 768, NormTopKProb = true, DecoderSparseStep = 1,
            RouterAuxLossCoef = 0.001)]
public partial class Qwen3_30B_A3B;

/// <summary>Qwen3-235B-A22B: 94 layers, hidden 4096, 64 / 4 heads, 128 experts of 1536, 8 active.</summary>
[Qwen3Model(Vocab = 151_936, Hidden = 4096, Layers = 94, Heads = 64, KvHeads = 4, HeadDim = 128,
            Ffn = 12_288, RopeTheta = 1e6, TieEmbeddings = false, MaxPositions = 40_960,
            Experts = 128, ExpertsPerToken = 8, ExpertFfn = 1536, NormTopKProb = true, DecoderSparseStep = 1,
            RouterAuxLossCoef = 0.001)]
public partial class Qwen3_235B_A22B;

/// <summary>A small MoE for the Sample: byte-level, 4 layers, hidden 128, 8 experts of 128, 2 active, aux loss on.</summary>
[Qwen3Model(Vocab = 256, Hidden = 128, Layers = 4, Heads = 4, KvHeads = 4, HeadDim = 32,
            Ffn = 384, RopeTheta = 10_000, TieEmbeddings = true, MaxPositions = 1024,
            Experts = 8, ExpertsPerToken = 2, ExpertFfn = 128, NormTopKProb = true, DecoderSparseStep = 1,
            RouterAuxLossCoef = 0.01, OutputRouterLogits = true)]
public partial class Qwen3ShakespeareMoe;

/// <summary>
/// The small MoE of the side-by-side speed kit (docs/performance.md; its GGUF is `make_gguf.py --arch qwen3moe --layers 8 --experts 16
/// --experts-used 4 --expert-ffn 512`): the 0.6B's attention and vocabulary with 8 sparse layers of 16 experts of
/// 512, 4 active, tied embeddings. Not a released model: it exists so that MoE decode and prefill can be compared
/// with llama.cpp on the same shape (`bench generate --definition Qwen3SmallMoe`).
/// </summary>
[Qwen3Model(Vocab = 151_936, Hidden = 1024, Layers = 8, Heads = 16, KvHeads = 8, HeadDim = 128,
            Ffn = 2048, RopeTheta = 1e6, TieEmbeddings = true, MaxPositions = 40_960,
            Experts = 16, ExpertsPerToken = 4, ExpertFfn = 512, NormTopKProb = true, DecoderSparseStep = 1)]
public partial class Qwen3SmallMoe;
