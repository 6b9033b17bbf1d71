using Qwen3Gen;

namespace Qwen3Gen.Benchmarks;

// MoE models and dense twins with the same ACTIVE parameters per token: the same attention, embedding and LM
// head, and a dense SwiGLU of Ffn = ExpertsPerToken × ExpertFfn, so a token does the same multiply-adds in its
// MLP (plus the MoE's router, Experts × Hidden, which is < 1% here). The MoE stores Experts / ExpertsPerToken
// times the MLP weights.

/// <summary>Dense twin of Definitions' Qwen3ShakespeareMoe (8 experts of 128, 2 active): Ffn = 2 × 128.</summary>
[Qwen3Model(Vocab = 256, Hidden = 128, Layers = 4, Heads = 4, KvHeads = 4, HeadDim = 32,
            Ffn = 256, RopeTheta = 10_000, TieEmbeddings = true, MaxPositions = 1024)]
public partial class ShakespeareDenseTwin;

/// <summary>A mid-size MoE shaped like Qwen3-30B-A3B scaled down: hidden 512, 32 experts of 256, 4 active.</summary>
[Qwen3Model(Vocab = 256, Hidden = 512, Layers = 4, Heads = 8, KvHeads = 4, HeadDim = 64,
            Ffn = 1024, RopeTheta = 1e6, TieEmbeddings = true, MaxPositions = 1024,
            Experts = 32, ExpertsPerToken = 4, ExpertFfn = 256, NormTopKProb = true, DecoderSparseStep = 1,
            RouterAuxLossCoef = 0.001)]
public partial class MidMoe;

/// <summary>Dense twin of <see cref="MidMoe"/>: Ffn = 4 × 256.</summary>
[Qwen3Model(Vocab = 256, Hidden = 512, Layers = 4, Heads = 8, KvHeads = 4, HeadDim = 64,
            Ffn = 1024, RopeTheta = 1e6, TieEmbeddings = true, MaxPositions = 1024)]
public partial class MidDenseTwin;
