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
