using Qwen3Gen;

namespace Qwen3Gen.Definitions;

// The six official dense Qwen3 sizes (spec §8: hidden_act silu, rms_norm_eps 1e-6, head_dim 128,
// vocab 151,936, rope_theta 1e6, max_position_embeddings 40,960). Checkpoints: Qwen/Qwen3-*B on Hugging Face.

/// <summary>
/// Qwen3-0.6B: 28 layers, hidden 1024, 16 query / 8 KV heads, FFN 3072, tied embeddings. Declared from its
/// Hugging Face config.json (an AdditionalFiles item, see the csproj) to show that path; the other sizes are inline.
/// </summary>
[Qwen3Model(Config = "Configs/Qwen3-0.6B/config.json")]
public partial class Qwen3_0_6B;

/// <summary>Qwen3-1.7B: 28 layers, hidden 2048, 16 / 8 heads, FFN 6144, tied embeddings.</summary>
[Qwen3Model(Vocab = 151_936, Hidden = 2048, Layers = 28, Heads = 16, KvHeads = 8, HeadDim = 128,
            Ffn = 6144, RopeTheta = 1e6, TieEmbeddings = true, MaxPositions = 40_960)]
public partial class Qwen3_1_7B;

/// <summary>Qwen3-4B: 36 layers, hidden 2560, 32 / 8 heads, FFN 9728, tied embeddings.</summary>
[Qwen3Model(Vocab = 151_936, Hidden = 2560, Layers = 36, Heads = 32, KvHeads = 8, HeadDim = 128,
            Ffn = 9728, RopeTheta = 1e6, TieEmbeddings = true, MaxPositions = 40_960)]
public partial class Qwen3_4B;

/// <summary>Qwen3-8B: 36 layers, hidden 4096, 32 / 8 heads, FFN 12288, separate LM head.</summary>
[Qwen3Model(Vocab = 151_936, Hidden = 4096, Layers = 36, Heads = 32, KvHeads = 8, HeadDim = 128,
            Ffn = 12_288, RopeTheta = 1e6, TieEmbeddings = false, MaxPositions = 40_960)]
public partial class Qwen3_8B;

/// <summary>Qwen3-14B: 40 layers, hidden 5120, 40 / 8 heads, FFN 17408, separate LM head.</summary>
[Qwen3Model(Vocab = 151_936, Hidden = 5120, Layers = 40, Heads = 40, KvHeads = 8, HeadDim = 128,
            Ffn = 17_408, RopeTheta = 1e6, TieEmbeddings = false, MaxPositions = 40_960)]
public partial class Qwen3_14B;

/// <summary>Qwen3-32B: 64 layers, hidden 5120, 64 / 8 heads, FFN 25600, separate LM head.</summary>
[Qwen3Model(Vocab = 151_936, Hidden = 5120, Layers = 64, Heads = 64, KvHeads = 8, HeadDim = 128,
            Ffn = 25_600, RopeTheta = 1e6, TieEmbeddings = false, MaxPositions = 40_960)]
public partial class Qwen3_32B;
