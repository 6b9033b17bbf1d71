using Qwen3Gen.Generator.Model;

namespace Qwen3Gen.Generator.Emitting;

/// <summary>
/// The model's shape as a struct implementing Qwen3Gen.Layers.IModelShape: the type argument of the layer code
/// (Runtime/Layers, Layer&lt;S&gt;), which the JIT compiles once per shape with these numbers as constants.
/// </summary>
internal static class ShapeEmitter
{
    public static void Write(SourceWriter w, ModelSpec spec)
    {
        var s = spec.Shape;
        w.Line("/// <summary>");
        w.Line("/// The shape above as the type argument of the layer code, global::Qwen3Gen.Layers.Layer&lt;Shape&gt; (Runtime/Layers):");
        w.Line("/// the JIT compiles that code for this struct alone, each member inlines to its constant, and the layers' loops");
        w.Line("/// run to this model's numbers.");
        w.Line("/// </summary>");
        w.Line("[GeneratedCode]");
        w.Open("public readonly struct Shape : global::Qwen3Gen.Layers.IModelShape");
        w.Line("public static int Vocab => " + spec.ClassName + ".Vocab;");
        w.Line("public static int Hidden => " + spec.ClassName + ".Hidden;");
        w.Line("public static int Heads => " + spec.ClassName + ".Heads;");
        w.Line("public static int KvHeads => " + spec.ClassName + ".KvHeads;");
        w.Line("public static int HeadDim => " + spec.ClassName + ".HeadDim;");
        w.Line("public static int Ffn => " + spec.ClassName + ".Ffn;");
        w.Line("public static float RmsNormEps => " + spec.ClassName + ".RmsNormEps;");
        w.Line("public static int QDim => " + spec.ClassName + ".QDim;");
        w.Line("public static int KvDim => " + spec.ClassName + ".KvDim;");
        w.Line("public static int Group => " + spec.ClassName + ".Group;");
        w.Line("public static float AttentionScale => " + spec.ClassName + ".AttentionScale;");
        if (s.IsMoe)
        {
            w.Line("public static int Experts => " + spec.ClassName + ".Experts;");
            w.Line("public static int ExpertsPerToken => " + spec.ClassName + ".ExpertsPerToken;");
            w.Line("public static int ExpertFfn => " + spec.ClassName + ".ExpertFfn;");
            w.Line("public static bool NormTopKProb => " + spec.ClassName + ".NormTopKProb;");
        }
        else
        {
            w.Line("public static int Experts => 0;                 // dense: no mixture-of-experts layers");
            w.Line("public static int ExpertsPerToken => 0;");
            w.Line("public static int ExpertFfn => 0;");
            w.Line("public static bool NormTopKProb => false;");
        }
        w.Close();
        w.Line();
        WriteProducts(w);
    }

    /// <summary>The model's matrix products as types (Qwen3Gen.Kernels.IProduct), named after their Hugging Face modules.</summary>
    private static void WriteProducts(SourceWriter w)
    {
        w.Line("// The matrix products y = x · Wᵀ (nn.Linear, W: [Out, In]) as types, for Linear<P>(y, x, W, rows) and its gradients");
        w.Line("// (Layer<Shape>): the kernels are compiled once per product, with its In and Out as constants in their loops.");
        Product(w, "QProj", "Hidden", "QDim", "self_attn.q_proj");
        Product(w, "KProj", "Hidden", "KvDim", "self_attn.k_proj");
        Product(w, "VProj", "Hidden", "KvDim", "self_attn.v_proj");
        Product(w, "OProj", "QDim", "Hidden", "self_attn.o_proj");
        Product(w, "GateProj", "Hidden", "Ffn", "mlp.gate_proj");
        Product(w, "UpProj", "Hidden", "Ffn", "mlp.up_proj");
        Product(w, "DownProj", "Ffn", "Hidden", "mlp.down_proj");
        Product(w, "LmHead", "Hidden", "Vocab", "lm_head");
        w.Line();
    }

    private static void Product(SourceWriter w, string name, string input, string output, string module)
    {
        w.Line("[GeneratedCode]");
        w.Line($"public readonly struct {name} : global::Qwen3Gen.Kernels.IProduct {{ public static int In => {input}; public static int Out => {output}; }}"
               + new string(' ', System.Math.Max(1, 19 - name.Length - input.Length - output.Length)) + "// " + module);
    }
}
