using Qwen3Gen.Kernels;
using Qwen3Gen.Models;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Layers;

// ================================ Mixture of experts (Qwen3MoeSparseMoeBlock) ================================
// router_logits = x · W_routerᵀ,  p = softmax(router_logits) over ALL experts,
// (w, sel) = top-k of p, descending;  if NormTopKProb: w = w / Σ w
// out = Σ_slot w_slot · expert_sel(x),   expert_e(x) = down_e(silu(gate_e(x)) ⊙ up_e(x))
// Only selected experts run: the routed (row, slot) pairs are packed by expert, in row order, and each
// expert multiplies its own block of rows. No shared expert, no capacity limit, no jitter, no router bias.
public static unsafe partial class Layer<S>
{
    // The sparse block's products (see Linear): the router mlp.gate [Experts, Hidden] and each expert's gate_proj,
    // up_proj [ExpertFfn, Hidden] and down_proj [Hidden, ExpertFfn].
    private readonly struct Router : IProduct { public static int In => S.Hidden; public static int Out => S.Experts; }
    private readonly struct ExpertGate : IProduct { public static int In => S.Hidden; public static int Out => S.ExpertFfn; }
    private readonly struct ExpertUp : IProduct { public static int In => S.Hidden; public static int Out => S.ExpertFfn; }
    private readonly struct ExpertDown : IProduct { public static int In => S.ExpertFfn; public static int Out => S.Hidden; }

    /// <summary>output [R, Hidden] = the sparse block of x [R, Hidden] (the post-attention norm's output); keeps its routing in <paramref name="e"/>.</summary>
    public static void MoeForward(ref MoeBuffers e, float* output, float* x, Weights m, long router, ExpertMatrices experts, int rows) =>
        MoeForward(ref e, output, x, m, router, experts, rows, 0, S.Experts);

    /// <summary>
    /// The same with only experts [<paramref name="firstExpert"/>, + <paramref name="ownedExperts"/>) held here (expert
    /// parallelism: <paramref name="experts"/> locates expert firstExpert + i at i · Stride): the router still scores every
    /// expert, and <paramref name="output"/> is the part of the sum from the owned experts (the ranks' parts add up to it).
    /// </summary>
    public static void MoeForward(ref MoeBuffers e, float* output, float* x, Weights m, long router, ExpertMatrices experts, int rows,
                                  int firstExpert, int ownedExperts)
    {
        Linear<Router>(e.RouterLogits, x, m.Matrix(router), rows);                             // [R, Experts]
        Route(ref e, rows);
        Pack(ref e, x, rows);
        var job = new ExpertForwardJob { M = m, Experts = experts, First = firstExpert, Counts = e.Counts, Starts = e.Starts, Xe = e.Xe, Ge = e.Ge, Ue = e.Ue, Ae = e.Ae, Ye = e.Ye };
        // Experts side by side, one per work item, each one's products on its thread alone: a decode step's few
        // small experts split poorly across threads one after another. When one expert holds over half of the routed
        // rows that would leave the other threads idle, so the experts run in turn with each product split instead.
        // Either way each expert's output is the same (products do not depend on how they are split).
        int busiest = 0, routed = 0;
        for (int i = firstExpert; i < firstExpert + ownedExperts; i++) { busiest = Math.Max(busiest, e.Counts[i]); routed += e.Counts[i]; }
        if (2L * busiest <= routed) Workers.For(ownedExperts, job, 1);
        else job.Execute(0, ownedExperts);
        for (int r = 0; r < rows; r++)                                                          // out[r] = Σ_slot w · y
        {
            float* o = output + (long)r * S.Hidden;
            RowOps.Clear(o, S.Hidden);
            for (int k = 0; k < S.ExpertsPerToken; k++)
            {
                int i = r * S.ExpertsPerToken + k;
                if ((uint)(e.Selected[i] - firstExpert) >= (uint)ownedExperts) continue;        // another rank's expert
                RowOps.Axpy(o, e.RouteWeight[i], e.Ye + (long)e.PackedPos[i] * S.Hidden, S.Hidden);
            }
        }
    }

    /// <summary>Experts First + [start, end) of a layer:  y_e = (silu(x_e · Wgᵀ) ⊙ (x_e · Wuᵀ)) · Wdᵀ  over the rows routed to each.</summary>
    private struct ExpertForwardJob : IParallelJob
    {
        public Weights M;
        public ExpertMatrices Experts;
        public int First;
        public int* Counts, Starts;
        public float* Xe, Ge, Ue, Ae, Ye;

        public void Execute(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                int e = First + i;
                int n = Counts[e];
                if (n == 0) continue;                                                           // an idle expert costs nothing
                long p0 = Starts[e], w = i * Experts.Stride;
                float* x = Xe + p0 * S.Hidden, ge = Ge + p0 * S.ExpertFfn, ue = Ue + p0 * S.ExpertFfn, ae = Ae + p0 * S.ExpertFfn;
                Linear<ExpertGate>(ge, x, M.Matrix(Experts.Gate + w), n);                       // gate_e = x · Wgᵀ
                Linear<ExpertUp>(ue, x, M.Matrix(Experts.Up + w), n);                           // up_e   = x · Wuᵀ
                SwiGluForward(ae, ge, ue, (long)n * S.ExpertFfn);                               // act_e  = silu(gate_e) ⊙ up_e
                Linear<ExpertDown>(Ye + p0 * S.Hidden, ae, M.Matrix(Experts.Down + w), n);      // y_e    = act_e · Wdᵀ
            }
        }
    }

    // Softmax over all experts (float32, as HF), then top-k by repeated selection (ties: the lower id first).
    private static void Route(ref MoeBuffers a, int rows)
    {
        for (int r = 0; r < rows; r++)
        {
            float* z = a.RouterLogits + (long)r * S.Experts, p = a.Probs + (long)r * S.Experts;
            float max = z[0];
            for (int e = 1; e < S.Experts; e++) max = MathF.Max(max, z[e]);
            float sum = 0f;
            for (int e = 0; e < S.Experts; e++) { p[e] = MathF.Exp(z[e] - max); sum += p[e]; }
            for (int e = 0; e < S.Experts; e++) p[e] /= sum;
            int* sel = a.Selected + (long)r * S.ExpertsPerToken;
            float* w = a.RouteWeight + (long)r * S.ExpertsPerToken;
            float total = 0f;
            for (int k = 0; k < S.ExpertsPerToken; k++)
            {
                int best = -1;
                for (int e = 0; e < S.Experts; e++)
                {
                    bool taken = false;
                    for (int j = 0; j < k; j++) taken |= sel[j] == e;
                    if (!taken && (best < 0 || p[e] > p[best])) best = e;
                }
                sel[k] = best;
                w[k] = p[best];
                total += w[k];
            }
            if (S.NormTopKProb)
                for (int k = 0; k < S.ExpertsPerToken; k++) w[k] /= total;
        }
    }

    // Groups the routed (row, slot) pairs by expert: Counts, Starts, PackedRow, PackedPos, and the rows of x in Xe.
    private static void Pack(ref MoeBuffers a, float* x, int rows)
    {
        int* cursor = stackalloc int[S.Experts];
        for (int e = 0; e < S.Experts; e++) { a.Counts[e] = 0; cursor[e] = 0; }
        for (int i = 0; i < rows * S.ExpertsPerToken; i++) a.Counts[a.Selected[i]]++;
        a.Starts[0] = 0;
        for (int e = 0; e < S.Experts; e++) a.Starts[e + 1] = a.Starts[e] + a.Counts[e];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < S.ExpertsPerToken; k++)
            {
                int i = r * S.ExpertsPerToken + k, e = a.Selected[i];
                int pos = a.Starts[e] + cursor[e]++;
                a.PackedRow[pos] = r;
                a.PackedPos[i] = pos;
                RowOps.Copy(a.Xe + (long)pos * S.Hidden, x + (long)r * S.Hidden, S.Hidden);
            }
    }

    // Load-balancing loss over every sparse layer pooled (M = sparse layers · R rows), spec §4:
    //   aux = Experts · Σ_e f_e · P̄_e,   f_e = (selections of e) / M  (sums to k),   P̄_e = mean_m p[m, e]
    // The model adds each sparse layer's counts with MoeAuxStatistics, then MoeAuxLoss gives aux and f.

    /// <summary>Adds one sparse layer's selections of each expert and its probabilities, summed over its rows.</summary>
    public static void MoeAuxStatistics(ref MoeBuffers a, int rows, double[] selections, double[] probSums)
    {
        for (int r = 0; r < rows; r++)
        {
            for (int k = 0; k < S.ExpertsPerToken; k++) selections[a.Selected[r * S.ExpertsPerToken + k]] += 1;
            for (int e = 0; e < S.Experts; e++) probSums[e] += a.Probs[(long)r * S.Experts + e];
        }
    }

    /// <summary>aux over <paramref name="pooled"/> rows (M); writes f_e into <paramref name="fraction"/> for the backward.</summary>
    public static float MoeAuxLoss(double[] selections, double[] probSums, int pooled, float[] fraction)
    {
        double aux = 0;
        for (int e = 0; e < S.Experts; e++)
        {
            fraction[e] = (float)(selections[e] / pooled);
            aux += selections[e] / pooled * (probSums[e] / pooled);
        }
        return (float)(S.Experts * aux);
    }

    // Backward of the sparse block. On entry dOut = d(loss)/d(out); on exit dx = d(loss)/d(x).
    //   dw_slot = dout · y_slot,   dy_slot = w_slot · dout,   then each expert's SwiGLU backward on its block.
    //   Through the weights to the probabilities: NormTopKProb: dp_sel = (dw − Σ dw ⊙ w) / Σ p_sel;  else dp_sel = dw.
    //   Aux loss: dp[m, e] += auxScale · f_e  (auxScale = coef · Experts / M when it counts, else 0; f is a constant:
    //   top-k is discrete). Softmax: dz = p ⊙ (dp − Σ_e dp_e p_e). Experts with no rows get exactly zero gradient.
    public static void MoeBackward(ref MoeBuffers a, in MoeGradients d, float* dOut, float* dx, float* x, Weights m, float* g, IMatrixAdapters? lora,
                                   long router, ExpertMatrices experts, int rows, float auxScale, float[] fraction)
    {
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < S.ExpertsPerToken; k++)
            {
                int i = r * S.ExpertsPerToken + k;
                long pos = a.PackedPos[i];
                float* dOutRow = dOut + (long)r * S.Hidden, dy = d.DYe + pos * S.Hidden;
                d.DRouteWeight[i] = RowOps.Dot(dOutRow, a.Ye + pos * S.Hidden, S.Hidden);
                for (int j = 0; j < S.Hidden; j++) dy[j] = a.RouteWeight[i] * dOutRow[j];
            }
        for (int e = 0; e < S.Experts; e++)
        {
            int n = a.Counts[e];
            if (n == 0) continue;
            long p0 = a.Starts[e], w = e * experts.Stride;
            float* xe = a.Xe + p0 * S.Hidden, dxe = d.DXe + p0 * S.Hidden, dy = d.DYe + p0 * S.Hidden;
            float* dAe = d.DAe + p0 * S.ExpertFfn, dGe = d.DGe + p0 * S.ExpertFfn, dUe = d.DUe + p0 * S.ExpertFfn;
            RowOps.Clear(dAe, (long)n * S.ExpertFfn);
            InputGradient<ExpertDown>(dAe, dy, m.Matrix(experts.Down + w), n);
            WeightGradient<ExpertDown>(g, lora, experts.Down + w, dAe, dy, a.Ae + p0 * S.ExpertFfn, n);
            SwiGluBackward(dGe, dUe, dAe, a.Ge + p0 * S.ExpertFfn, a.Ue + p0 * S.ExpertFfn, (long)n * S.ExpertFfn);
            RowOps.Clear(dxe, (long)n * S.Hidden);
            InputGradient<ExpertGate>(dxe, dGe, m.Matrix(experts.Gate + w), n);
            InputGradient<ExpertUp>(dxe, dUe, m.Matrix(experts.Up + w), n);
            WeightGradient<ExpertGate>(g, lora, experts.Gate + w, dxe, dGe, xe, n);
            WeightGradient<ExpertUp>(g, lora, experts.Up + w, dxe, dUe, xe, n);
        }
        RowOps.Clear(dx, (long)rows * S.Hidden);
        for (int r = 0; r < rows; r++)                                                          // dx[r] = Σ_slot dXe[pos]
            for (int k = 0; k < S.ExpertsPerToken; k++)
                RowOps.Add(dx + (long)r * S.Hidden, d.DXe + (long)a.PackedPos[r * S.ExpertsPerToken + k] * S.Hidden, S.Hidden);

        for (int r = 0; r < rows; r++)
        {
            float* p = a.Probs + (long)r * S.Experts, dp = d.DProbs + (long)r * S.Experts;
            float* w = a.RouteWeight + (long)r * S.ExpertsPerToken, dw = d.DRouteWeight + (long)r * S.ExpertsPerToken;
            int* sel = a.Selected + (long)r * S.ExpertsPerToken;
            for (int e = 0; e < S.Experts; e++) dp[e] = auxScale * fraction[e];
            if (S.NormTopKProb)
            {
                float sum = 0f, dwDotW = 0f;
                for (int k = 0; k < S.ExpertsPerToken; k++) { sum += p[sel[k]]; dwDotW += dw[k] * w[k]; }
                for (int k = 0; k < S.ExpertsPerToken; k++) dp[sel[k]] += (dw[k] - dwDotW) / sum;
            }
            else
            {
                for (int k = 0; k < S.ExpertsPerToken; k++) dp[sel[k]] += dw[k];
            }
            float dot = 0f;
            for (int e = 0; e < S.Experts; e++) dot += dp[e] * p[e];
            for (int e = 0; e < S.Experts; e++) dp[e] = p[e] * (dp[e] - dot);                    // now d(loss)/d(router_logits)
        }
        InputGradient<Router>(dx, d.DProbs, m.Matrix(router), rows);
        WeightGradient<Router>(g, lora, router, dx, d.DProbs, x, rows);
    }
}
