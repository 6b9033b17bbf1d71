using Qwen3Gen.Generator.Model;
using static Qwen3Gen.Generator.Emitting.SourceWriter;

namespace Qwen3Gen.Generator.Emitting;

/// <summary>The hyper-parameters as compile-time constants, and the runtime ModelConfig mirror.</summary>
internal static class ConstantsEmitter
{
    public static void Write(SourceWriter w, ModelSpec spec)
    {
        var s = spec.Shape;
        w.Line("// ---- Hyper-parameters: every shape below is a compile-time constant ----");
        w.Line($"public const int Vocab = {Int(s.Vocab)};            // vocab_size");
        w.Line($"public const int Hidden = {Int(s.Hidden)};           // hidden_size");
        w.Line($"public const int Layers = {Int(s.Layers)};           // num_hidden_layers");
        w.Line($"public const int Heads = {Int(s.Heads)};            // num_attention_heads");
        w.Line($"public const int KvHeads = {Int(s.KvHeads)};          // num_key_value_heads");
        w.Line($"public const int HeadDim = {Int(s.HeadDim)};          // head_dim (independent of Hidden / Heads)");
        w.Line($"public const int Ffn = {Int(s.Ffn)};              // intermediate_size of the dense SwiGLU MLP");
        w.Line($"public const int MaxPositions = {Int(s.MaxPositions)};     // max_position_embeddings");
        w.Line($"public const double RopeTheta = {Double(s.RopeTheta)};   // rope_theta");
        var rope = s.RopeScaling;
        if (rope.Type != "default")
            w.Line($"// rope_scaling: {rope.Type}, factor {Double(rope.Factor)} over {Int(rope.OriginalMaxPositions)} trained positions (HyperParameters.RopeScaling)");
        w.Line($"public const float RmsNormEps = {Float(s.RmsNormEps)};   // rms_norm_eps (added inside the square root)");
        w.Line($"public const bool TieEmbeddings = {(s.TieEmbeddings ? "true" : "false")};  // tie_word_embeddings: " +
               (s.TieEmbeddings ? "the LM head is model.embed_tokens.weight" : "a separate lm_head.weight"));
        if (s.IsMoe)
        {
            w.Line($"public const int Experts = {Int(s.Experts)};          // num_experts");
            w.Line($"public const int ExpertsPerToken = {Int(s.ExpertsPerToken)};  // num_experts_per_tok (top-k)");
            w.Line($"public const int ExpertFfn = {Int(s.ExpertFfn)};        // moe_intermediate_size");
            w.Line($"public const bool NormTopKProb = {(s.NormTopKProb ? "true" : "false")};    // renormalise the top-k weights to sum 1");
            w.Line($"public const float RouterAuxLossCoef = {Float(s.RouterAuxLossCoef)};  // router_aux_loss_coef");
            w.Line($"public const bool OutputRouterLogits = {(s.OutputRouterLogits ? "true" : "false")};  // add coef · aux loss to the training loss");
        }
        w.Line();
        w.Line($"public const int QDim = Heads * HeadDim;        // {s.Heads} * {s.HeadDim} = {s.Heads * s.HeadDim}: q_proj outputs, heads concatenated");
        w.Line($"public const int KvDim = KvHeads * HeadDim;     // {s.KvHeads} * {s.HeadDim} = {s.KvHeads * s.HeadDim}: k_proj / v_proj outputs");
        w.Line($"public const int Group = Heads / KvHeads;       // {s.Heads / s.KvHeads} query heads share one K/V head (head h uses K/V head h / Group)");
        w.Line($"public const float AttentionScale = {Float(1.0 / System.Math.Sqrt(s.HeadDim))};  // HeadDim^-0.5");
        w.Line();
        w.Line("/// <summary>The hyper-parameters as a runtime value (for checkpoints, config.json matching and tools).</summary>");
        w.Line("public static readonly global::Qwen3Gen.Models.ModelConfig HyperParameters = new()");
        w.Line("{");
        w.Line("    Vocab = Vocab, Hidden = Hidden, Layers = Layers, Heads = Heads, KvHeads = KvHeads, HeadDim = HeadDim, Ffn = Ffn,");
        w.Line($"    RopeTheta = RopeTheta, RmsNormEps = {Double(s.RmsNormEps)}, TieEmbeddings = TieEmbeddings, MaxPositions = MaxPositions,");
        if (rope.Type == "linear")
            w.Line($"    RopeScaling = global::Qwen3Gen.Kernels.RopeScaling.Linear(factor: {Double(rope.Factor)}, originalMaxPositions: {Int(rope.OriginalMaxPositions)}),");
        else if (rope.Type == "yarn")
            w.Line($"    RopeScaling = global::Qwen3Gen.Kernels.RopeScaling.Yarn(factor: {Double(rope.Factor)}, originalMaxPositions: {Int(rope.OriginalMaxPositions)}, " +
                   $"betaFast: {Double(rope.BetaFast)}, betaSlow: {Double(rope.BetaSlow)}, attentionFactor: {Double(rope.AttentionFactor)}, " +
                   $"truncate: {(rope.Truncate ? "true" : "false")}),");
        if (s.IsMoe)
        {
            w.Line("    Experts = Experts, ExpertsPerToken = ExpertsPerToken, ExpertFfn = ExpertFfn, NormTopKProb = NormTopKProb,");
            w.Line($"    DecoderSparseStep = {Int(s.DecoderSparseStep)}, MlpOnlyLayers = [{string.Join(", ", s.MlpOnlyLayers)}],");
            w.Line($"    RouterAuxLossCoef = {Double(s.RouterAuxLossCoef)}, OutputRouterLogits = OutputRouterLogits,");
        }
        w.Line("};");
        w.Line();
    }
}
