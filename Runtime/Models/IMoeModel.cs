namespace Qwen3Gen.Models;

/// <summary>What a generated Qwen3-MoE model adds to <see cref="IQwen3Model"/>: routing statistics of the last Forward.</summary>
public interface IMoeModel : IQwen3Model
{
    /// <summary>Whether decoder layer <paramref name="layer"/> has a sparse MoE block (HF's decoder_sparse_step / mlp_only_layers rule).</summary>
    bool IsSparseLayer(int layer);

    /// <summary>Rows routed to each expert of sparse layer <paramref name="layer"/> in the last Forward.</summary>
    int[] ExpertLoad(int layer);

    /// <summary>The last Forward's load-balancing aux loss, before the coefficient (training buffers only).</summary>
    float AuxLoss { get; }

    /// <summary>The last Forward's cross-entropy alone.</summary>
    float CrossEntropyLoss { get; }
}
