using System.Linq;
using Qwen3Gen.Generator.Model;
using static Qwen3Gen.Generator.Emitting.SourceWriter;

namespace Qwen3Gen.Generator.Emitting;

/// <summary>The flat parameter layout (element offsets by Hugging Face key) and the tensor table.</summary>
internal static class LayoutEmitter
{
    public static void Write(SourceWriter w, ModelSpec spec)
    {
        var s = spec.Shape;
        long h = s.Hidden, attnStride = ((long)s.Heads * s.HeadDim + 2L * s.KvHeads * s.HeadDim) * h + h * s.Heads * s.HeadDim;
        long denseMlp = 3L * s.Ffn * h, sparseMlp = (long)s.Experts * h + (long)s.Experts * 3L * s.ExpertFfn * h;
        var sparse = Enumerable.Range(0, s.Layers).Select(s.IsSparse).ToArray();
        bool uniform = sparse.All(x => x == sparse[0]);

        w.Line("/// <summary>");
        w.Line("/// Where each parameter tensor lives in the flat buffer, in elements. All matrices come first (embedding,");
        w.Line("/// attention, MLP, LM head), then every 1-D norm weight from VectorStart on: BF16 weights keep the matrices");
        w.Line("/// in BF16 and the vectors in float32 at the same offsets.");
        w.Line("/// </summary>");
        w.Line("[GeneratedCode]");
        w.Open("public static class Layout");
        w.Line("public const long Embed = 0;                                              // model.embed_tokens.weight [Vocab, Hidden]");
        w.Line();
        w.Line("// Attention matrices of layer i: q_proj [QDim, Hidden], k_proj, v_proj [KvDim, Hidden], o_proj [Hidden, QDim]");
        w.Line("public const long AttentionStart = Embed + (long)Vocab * Hidden;");
        w.Line($"public const long AttentionStride = (long)(QDim + 2 * KvDim) * Hidden + (long)Hidden * QDim;  // {Grouped(attnStride)}");
        w.Line("public static long QProj(int layer) => AttentionStart + layer * AttentionStride;");
        w.Line("public static long KProj(int layer) => QProj(layer) + (long)QDim * Hidden;");
        w.Line("public static long VProj(int layer) => KProj(layer) + (long)KvDim * Hidden;");
        w.Line("public static long OProj(int layer) => VProj(layer) + (long)KvDim * Hidden;");
        w.Line();
        w.Line("// MLP matrices of layer i (dense: gate_proj, up_proj [Ffn, Hidden], down_proj [Hidden, Ffn])");
        w.Line("public const long MlpStart = AttentionStart + Layers * AttentionStride;");
        w.Line($"public const long DenseMlpSize = 3L * Ffn * Hidden;  // {Grouped(denseMlp)}");
        if (s.IsMoe)
        {
            w.Line("// sparse layer: router mlp.gate [Experts, Hidden], then per expert gate_proj, up_proj [ExpertFfn, Hidden], down_proj [Hidden, ExpertFfn]");
            w.Line("public const long RouterSize = (long)Experts * Hidden;");
            w.Line("public const long ExpertSize = 3L * ExpertFfn * Hidden;");
            w.Line($"public const long SparseMlpSize = RouterSize + Experts * ExpertSize;  // {Grouped(sparseMlp)}");
        }
        if (uniform)
        {
            string size = sparse[0] ? "SparseMlpSize" : "DenseMlpSize";
            w.Line($"public static long MlpBase(int layer) => MlpStart + layer * {size};");
            w.Line($"public const long MlpEnd = MlpStart + Layers * {size};");
        }
        else
        {
            long offset = 0;
            var bases = new long[s.Layers];
            for (int i = 0; i < s.Layers; i++) { bases[i] = offset; offset += sparse[i] ? sparseMlp : denseMlp; }
            w.Line("// layers mix dense and sparse MLPs (decoder_sparse_step / mlp_only_layers), so their offsets are listed");
            w.Line($"private static readonly long[] MlpOffsets = {{ {string.Join(", ", bases.Select(b => Int(b)))} }};");
            w.Line("public static long MlpBase(int layer) => MlpStart + MlpOffsets[layer];");
            w.Line($"public const long MlpEnd = MlpStart + {Int(offset)};");
        }
        w.Line("public static long GateProj(int layer) => MlpBase(layer);");
        w.Line("public static long UpProj(int layer) => GateProj(layer) + (long)Ffn * Hidden;");
        w.Line("public static long DownProj(int layer) => UpProj(layer) + (long)Ffn * Hidden;");
        if (s.IsMoe)
        {
            w.Line("public static long Router(int layer) => MlpBase(layer);");
            w.Line("public static long ExpertGateProj(int layer, int expert) => MlpBase(layer) + RouterSize + expert * ExpertSize;");
            w.Line("public static long ExpertUpProj(int layer, int expert) => ExpertGateProj(layer, expert) + (long)ExpertFfn * Hidden;");
            w.Line("public static long ExpertDownProj(int layer, int expert) => ExpertUpProj(layer, expert) + (long)ExpertFfn * Hidden;");
            w.Line("public static global::Qwen3Gen.Layers.ExpertMatrices ExpertBlock(int layer) =>     // expert e's matrices: these + e · ExpertSize");
            w.Line("    new(ExpertGateProj(layer, 0), ExpertUpProj(layer, 0), ExpertDownProj(layer, 0), ExpertSize);");
        }
        w.Line();
        if (s.TieEmbeddings)
        {
            w.Line("public const long LmHead = Embed;                                         // tied: the LM head is the embedding matrix");
            w.Line("public const long VectorStart = MlpEnd;");
        }
        else
        {
            w.Line("public const long LmHead = MlpEnd;                                        // lm_head.weight [Vocab, Hidden]");
            w.Line("public const long VectorStart = LmHead + (long)Vocab * Hidden;");
        }
        w.Line();
        w.Line("// Norm weights of layer i: input_layernorm [Hidden], q_norm [HeadDim], k_norm [HeadDim], post_attention_layernorm [Hidden]");
        w.Line("public const long VectorStride = 2L * Hidden + 2L * HeadDim;");
        w.Line("public static long InputNorm(int layer) => VectorStart + layer * VectorStride;");
        w.Line("public static long QNorm(int layer) => InputNorm(layer) + Hidden;");
        w.Line("public static long KNorm(int layer) => QNorm(layer) + HeadDim;");
        w.Line("public static long PostAttentionNorm(int layer) => KNorm(layer) + HeadDim;");
        w.Line("public const long FinalNorm = VectorStart + Layers * VectorStride;      // model.norm.weight [Hidden]");
        w.Line("public const long Count = FinalNorm + Hidden;");
        w.Close();
        w.Line();
        w.Line($"/// <summary>Number of parameters ({Grouped(ParameterCount(s))}).</summary>");
        w.Line("public const long ParameterCount = Layout.Count;");
        w.Line();
        if (s.IsMoe)
        {
            w.Line("/// <summary>HF rule (Qwen3MoeDecoderLayer): layer i is sparse iff not in mlp_only_layers and (i+1) % decoder_sparse_step == 0.</summary>");
            w.Line(uniform
                ? $"public static bool IsSparse(int layer) => {(sparse[0] ? "true" : "false")};"
                : $"public static bool IsSparse(int layer) => layer is {string.Join(" or ", Enumerable.Range(0, s.Layers).Where(i => sparse[i]))};");
            w.Line();
        }

        w.Line("/// <summary>Every parameter tensor by Hugging Face checkpoint key, with its shape and offset.</summary>");
        w.Line("public static readonly global::System.Collections.Generic.IReadOnlyList<global::Qwen3Gen.Models.TensorSpec> TensorTable = BuildTensorTable();");
        w.Line();
        w.Open("private static global::Qwen3Gen.Models.TensorSpec[] BuildTensorTable()");
        w.Line("var t = new global::System.Collections.Generic.List<global::Qwen3Gen.Models.TensorSpec>();");
        w.Line("t.Add(new(\"model.embed_tokens.weight\", [Vocab, Hidden], Layout.Embed));");
        w.Open("for (int i = 0; i < Layers; i++)");
        w.Line("string p = \"model.layers.\" + i + \".\";");
        w.Line("t.Add(new(p + \"input_layernorm.weight\", [Hidden], Layout.InputNorm(i)));");
        w.Line("t.Add(new(p + \"self_attn.q_proj.weight\", [QDim, Hidden], Layout.QProj(i)));");
        w.Line("t.Add(new(p + \"self_attn.k_proj.weight\", [KvDim, Hidden], Layout.KProj(i)));");
        w.Line("t.Add(new(p + \"self_attn.v_proj.weight\", [KvDim, Hidden], Layout.VProj(i)));");
        w.Line("t.Add(new(p + \"self_attn.o_proj.weight\", [Hidden, QDim], Layout.OProj(i)));");
        w.Line("t.Add(new(p + \"self_attn.q_norm.weight\", [HeadDim], Layout.QNorm(i)));");
        w.Line("t.Add(new(p + \"self_attn.k_norm.weight\", [HeadDim], Layout.KNorm(i)));");
        w.Line("t.Add(new(p + \"post_attention_layernorm.weight\", [Hidden], Layout.PostAttentionNorm(i)));");
        if (s.IsMoe)
        {
            w.Open("if (IsSparse(i))");
            w.Line("t.Add(new(p + \"mlp.gate.weight\", [Experts, Hidden], Layout.Router(i)));");
            w.Open("for (int e = 0; e < Experts; e++)");
            w.Line("string x = p + \"mlp.experts.\" + e + \".\";");
            w.Line("t.Add(new(x + \"gate_proj.weight\", [ExpertFfn, Hidden], Layout.ExpertGateProj(i, e)));");
            w.Line("t.Add(new(x + \"up_proj.weight\", [ExpertFfn, Hidden], Layout.ExpertUpProj(i, e)));");
            w.Line("t.Add(new(x + \"down_proj.weight\", [Hidden, ExpertFfn], Layout.ExpertDownProj(i, e)));");
            w.Close();
            w.Close();
            w.Open("else");
        }
        w.Line("t.Add(new(p + \"mlp.gate_proj.weight\", [Ffn, Hidden], Layout.GateProj(i)));");
        w.Line("t.Add(new(p + \"mlp.up_proj.weight\", [Ffn, Hidden], Layout.UpProj(i)));");
        w.Line("t.Add(new(p + \"mlp.down_proj.weight\", [Hidden, Ffn], Layout.DownProj(i)));");
        if (s.IsMoe) w.Close();
        w.Close();
        w.Line("t.Add(new(\"model.norm.weight\", [Hidden], Layout.FinalNorm));");
        if (!s.TieEmbeddings) w.Line("t.Add(new(\"lm_head.weight\", [Vocab, Hidden], Layout.LmHead));");
        w.Line("return t.ToArray();");
        w.Close();
        w.Line();
    }

    /// <summary>The parameter count of the layout written above (the shared count, Rules.ShapeRules.ParameterCount).</summary>
    public static long ParameterCount(ModelShape s) =>
        (long)Rules.ShapeRules.ParameterCount(s.Vocab, s.Hidden, s.Layers, s.Heads, s.KvHeads, s.HeadDim, s.Ffn, s.Experts, s.ExpertFfn,
            s.TieEmbeddings, s.IsSparse);
}
