namespace Qwen3Gen.Layers;

/// <summary>
/// A model's shape as static members, implemented by the <c>Shape</c> struct the generator emits in every model
/// (each member returns one of the model's constants). The layer code (<see cref="Layer{S}"/>) is generic over it:
/// for a struct type argument the JIT compiles a separate copy of every method and job per model, and each
/// <c>S.HeadDim</c> there is a call it inlines to the constant, so the loops run to constant bounds (folded, unrolled)
/// exactly as if the numbers were written in. Dense models return 0 for the MoE members.
/// </summary>
public interface IModelShape
{
    /// <summary>vocab_size.</summary>
    static abstract int Vocab { get; }

    /// <summary>hidden_size.</summary>
    static abstract int Hidden { get; }

    /// <summary>num_attention_heads.</summary>
    static abstract int Heads { get; }

    /// <summary>num_key_value_heads.</summary>
    static abstract int KvHeads { get; }

    /// <summary>head_dim.</summary>
    static abstract int HeadDim { get; }

    /// <summary>intermediate_size of the dense SwiGLU MLP.</summary>
    static abstract int Ffn { get; }

    /// <summary>rms_norm_eps.</summary>
    static abstract float RmsNormEps { get; }

    /// <summary>Heads · HeadDim: q_proj outputs, heads concatenated.</summary>
    static abstract int QDim { get; }

    /// <summary>KvHeads · HeadDim: k_proj / v_proj outputs.</summary>
    static abstract int KvDim { get; }

    /// <summary>Heads / KvHeads: query heads that share one K/V head.</summary>
    static abstract int Group { get; }

    /// <summary>HeadDim^-0.5.</summary>
    static abstract float AttentionScale { get; }

    /// <summary>num_experts (0: dense).</summary>
    static abstract int Experts { get; }

    /// <summary>num_experts_per_tok (top-k; 0: dense).</summary>
    static abstract int ExpertsPerToken { get; }

    /// <summary>moe_intermediate_size (0: dense).</summary>
    static abstract int ExpertFfn { get; }

    /// <summary>norm_topk_prob: renormalise the top-k routing weights to sum 1.</summary>
    static abstract bool NormTopKProb { get; }
}
