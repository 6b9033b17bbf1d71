namespace Qwen3Gen.Layers;

/// <summary>
/// One sparse MoE layer's activations, what its forward keeps for its backward. R = batch · seqLen rows,
/// P = R · ExpertsPerToken routed (row, slot) pairs, grouped by expert.
/// </summary>
public unsafe struct MoeBuffers
{
    public float* RouterLogits; // [R, Experts]   x · W_routerᵀ
    public float* Probs;        // [R, Experts]   softmax over all experts
    public int* Selected;       // [R, ExpertsPerToken]  top-k expert ids, descending probability
    public float* RouteWeight;  // [R, ExpertsPerToken]  their combine weights (renormalised if NormTopKProb)
    public int* Counts;         // [Experts]      rows routed to each expert
    public int* Starts;         // [Experts + 1]  first packed position of each expert
    public int* PackedRow;      // [P]            row of each packed position
    public int* PackedPos;      // [R, ExpertsPerToken]  packed position of each (row, slot)
    public float* Xe;           // [P, Hidden]    the routed rows, grouped by expert
    public float* Ge, Ue, Ae;   // [P, ExpertFfn] expert gate, up, silu(gate) ⊙ up
    public float* Ye;           // [P, Hidden]    expert outputs
}

/// <summary>Gradient scratch of a sparse layer's backward (training), shared by the layers.</summary>
public unsafe struct MoeGradients
{
    public float* DYe, DXe;                 // [P, Hidden]
    public float* DAe, DGe, DUe;            // [P, ExpertFfn]
    public float* DRouteWeight;             // [R, ExpertsPerToken]
    public float* DProbs;                   // [R, Experts]
}

/// <summary>
/// Where a sparse layer's expert matrices live in the parameter layout: expert e's gate_proj, up_proj and down_proj
/// at Gate, Up, Down + e · Stride (the generated Layout says which numbers).
/// </summary>
public readonly record struct ExpertMatrices(long Gate, long Up, long Down, long Stride);
