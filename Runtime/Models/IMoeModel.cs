namespace Qwen3Gen.Models;

/// <summary>
/// What a generated Qwen3-MoE model adds to <see cref="IQwen3Model"/>: the routing of the last Forward, layer by layer, as
/// Hugging Face's Qwen3MoeSparseMoeBlock computes it (router logits → softmax → top-k → optional renormalisation).
/// The per-row methods need the last Forward to have run on training work buffers (a Forward with targets, or after
/// <c>Reserve(batch, seqLen, training: true)</c>); rows are the Forward's batch · seqLen positions in order.
/// They throw <see cref="ArgumentException"/> for a dense layer (<see cref="IsSparseLayer"/> false).
/// </summary>
public interface IMoeModel : IQwen3Model
{
    /// <summary>Whether decoder layer <paramref name="layer"/> has a sparse MoE block (HF's decoder_sparse_step / mlp_only_layers rule).</summary>
    bool IsSparseLayer(int layer);

    /// <summary>Rows routed to each expert of sparse layer <paramref name="layer"/> in the last Forward.</summary>
    int[] ExpertLoad(int layer);

    /// <summary>The router's logits of sparse layer <paramref name="layer"/>: [rows, Experts], before the softmax (HF's router_logits).</summary>
    float[] RouterLogits(int layer);

    /// <summary>
    /// The weights of the selected experts: [rows, ExpertsPerToken], softmax probabilities in the order of
    /// <see cref="SelectedExperts"/>, renormalised to sum 1 per row when NormTopKProb.
    /// </summary>
    float[] RoutingWeights(int layer);

    /// <summary>The selected experts: [rows, ExpertsPerToken] expert ids, in descending router probability (torch.topk's order).</summary>
    int[] SelectedExperts(int layer);

    /// <summary>The last Forward's load-balancing aux loss, before the coefficient (training buffers only).</summary>
    float AuxLoss { get; }

    /// <summary>The last Forward's cross-entropy alone.</summary>
    float CrossEntropyLoss { get; }
}
