using Qwen3Gen;

namespace Qwen3Gen.Model.Tests;

// The golden fixtures' shapes (tests/Fixtures/golden/*/config.json), declared as a user would.

[Qwen3Model(Vocab = 256, Hidden = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96,
            RopeTheta = 1e6, RmsNormEps = 1e-6, TieEmbeddings = true, MaxPositions = 64)]
public partial class DenseTied;

[Qwen3Model(Vocab = 300, Hidden = 64, Layers = 3, Heads = 6, KvHeads = 2, HeadDim = 8, Ffn = 80,
            RopeTheta = 1e4, RmsNormEps = 1e-6, TieEmbeddings = false, MaxPositions = 64)]
public partial class DenseUntied;

[Qwen3Model(Vocab = 256, Hidden = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96,
            RopeTheta = 1e6, RmsNormEps = 1e-6, TieEmbeddings = true, MaxPositions = 64,
            Experts = 4, ExpertsPerToken = 2, ExpertFfn = 32, NormTopKProb = true, DecoderSparseStep = 1,
            RouterAuxLossCoef = 0.001, OutputRouterLogits = true)]
public partial class MoeTied;

// The project's own fixtures (tests/Fixtures/make_fixtures.py). Declarations_MatchFixtureConfigJson checks that
// each declaration equals ModelConfig.FromHuggingFaceJson of its case's config.json.

/// <summary>moe-mixed: 8 experts top-3 without renormalisation; sparse layers 1 and 5 (step 2, layer 3 mlp-only).</summary>
[Qwen3Model(Vocab = 96, Hidden = 32, Layers = 6, Heads = 4, KvHeads = 2, HeadDim = 8, Ffn = 40,
            RopeTheta = 1e4, RmsNormEps = 1e-6, TieEmbeddings = false, MaxPositions = 64,
            Experts = 8, ExpertsPerToken = 3, ExpertFfn = 12, NormTopKProb = false, DecoderSparseStep = 2,
            MlpOnlyLayers = new[] { 3 }, RouterAuxLossCoef = 0.01, OutputRouterLogits = true)]
public partial class MoeMixed;

/// <summary>dense-odd: no size is a multiple of a vector width (hidden 40, head_dim 12, ffn 56, vocab 300).</summary>
[Qwen3Model(Vocab = 300, Hidden = 40, Layers = 3, Heads = 6, KvHeads = 3, HeadDim = 12, Ffn = 56,
            RopeTheta = 5e6, RmsNormEps = 1e-6, TieEmbeddings = false, MaxPositions = 64)]
public partial class DenseOdd;

/// <summary>dense-long: T = 130 spans three attention key blocks; 4 query heads share one KV head.</summary>
[Qwen3Model(Vocab = 128, Hidden = 32, Layers = 2, Heads = 4, KvHeads = 1, HeadDim = 16, Ffn = 64,
            RopeTheta = 1e4, RmsNormEps = 1e-6, TieEmbeddings = true, MaxPositions = 160)]
public partial class DenseLong;
