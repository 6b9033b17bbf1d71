using Qwen3Gen.Layers;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// One rank's part of model <typeparamref name="S"/> split <typeparamref name="W"/> ways (Megatron-style): whole KV heads
/// and the query heads that share them (Heads / N, KvHeads / N, so Group is unchanged), Ffn / N columns of the dense MLP.
/// The hidden size, head size, vocabulary and the MoE router stay whole (the vocabulary split of the embedding and the LM
/// head, and the experts a rank owns, are handled by <see cref="TensorParallelModel{S, W}"/>, not by the layer code).
/// The layer code (<see cref="Layer{S}"/>) runs unchanged on this shape: attention loops over the rank's heads, the
/// KV cache holds the rank's K/V heads.
/// </summary>
public readonly struct RankShape<S, W> : IModelShape where S : struct, IModelShape where W : struct, IWays
{
    public static int Vocab => S.Vocab;
    public static int Hidden => S.Hidden;
    public static int Heads => S.Heads / W.N;
    public static int KvHeads => S.KvHeads / W.N;
    public static int HeadDim => S.HeadDim;
    public static int Ffn => S.Ffn / W.N;
    public static float RmsNormEps => S.RmsNormEps;
    public static int QDim => Heads * S.HeadDim;
    public static int KvDim => KvHeads * S.HeadDim;
    public static int Group => S.Group;
    public static float AttentionScale => S.AttentionScale;
    public static int Experts => S.Experts;
    public static int ExpertsPerToken => S.ExpertsPerToken;
    public static int ExpertFfn => S.ExpertFfn;
    public static bool NormTopKProb => S.NormTopKProb;
}

/// <summary>
/// The products of a rank of <typeparamref name="S"/> split <typeparamref name="W"/> ways, with their sizes as constants
/// (<see cref="Kernels.IProduct"/>), as the one-process model passes its own: the kernels compile per product.
/// </summary>
public static class RankProducts<S, W> where S : struct, IModelShape where W : struct, IWays
{
    /// <summary>q_proj rows of the rank's query heads: Hidden → QDim / N.</summary>
    public readonly struct QProj : Kernels.IProduct { public static int In => S.Hidden; public static int Out => RankShape<S, W>.QDim; }

    /// <summary>k_proj / v_proj rows of the rank's K/V heads: Hidden → KvDim / N.</summary>
    public readonly struct KvProj : Kernels.IProduct { public static int In => S.Hidden; public static int Out => RankShape<S, W>.KvDim; }

    /// <summary>o_proj columns of the rank's heads: QDim / N → Hidden (a partial sum).</summary>
    public readonly struct OProj : Kernels.IProduct { public static int In => RankShape<S, W>.QDim; public static int Out => S.Hidden; }

    /// <summary>gate_proj / up_proj rows of the rank's FFN columns: Hidden → Ffn / N.</summary>
    public readonly struct GateUpProj : Kernels.IProduct { public static int In => S.Hidden; public static int Out => RankShape<S, W>.Ffn; }

    /// <summary>down_proj columns of the rank's FFN columns: Ffn / N → Hidden (a partial sum).</summary>
    public readonly struct DownProj : Kernels.IProduct { public static int In => RankShape<S, W>.Ffn; public static int Out => S.Hidden; }
}
