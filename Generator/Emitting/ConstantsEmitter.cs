using System.Collections.Generic;
using System.Linq;
using Qwen3Gen.Generator.Model;
using Qwen3Gen.Rules;
using static Qwen3Gen.Generator.Emitting.SourceWriter;

namespace Qwen3Gen.Generator.Emitting;

/// <summary>
/// The hyper-parameters as compile-time constants, and the runtime ModelConfig mirror: both written row by row from the
/// field table (<see cref="HyperParameters.All"/>: name, constant type, doc text), nothing here per field.
/// </summary>
internal static class ConstantsEmitter
{
    public static void Write(SourceWriter w, ModelSpec spec)
    {
        var s = spec.Shape;
        var rows = Rows(s).ToList();
        w.Line("// ---- Hyper-parameters: every shape below is a compile-time constant ----");
        var constants = rows.Where(f => f.Constant is not null)
                            .Select(f => (Code: $"public const {f.Constant} {f.Name} = {Literal(f.Constant!, s.Get(f))};", f.Doc))
                            .ToList();
        int width = constants.Max(c => c.Code.Length);
        foreach (var (code, doc) in constants) w.Line(code.PadRight(width) + "  // " + doc);
        var rope = s.RopeScaling;
        if (rope.Type != "default")
            w.Line($"// rope_scaling: {rope.Type}, factor {Double(rope.Factor)} over {Int(rope.OriginalMaxPositions)} trained positions (HyperParameters.RopeScaling)");
        w.Line();
        w.Line($"public const int QDim = Heads * HeadDim;        // {s.Heads} * {s.HeadDim} = {s.Heads * s.HeadDim}: q_proj outputs, heads concatenated");
        w.Line($"public const int KvDim = KvHeads * HeadDim;     // {s.KvHeads} * {s.HeadDim} = {s.KvHeads * s.HeadDim}: k_proj / v_proj outputs");
        w.Line($"public const int Group = Heads / KvHeads;       // {s.Heads / s.KvHeads} query heads share one K/V head (head h uses K/V head h / Group)");
        w.Line($"public const float AttentionScale = {Float(1.0 / System.Math.Sqrt(s.HeadDim))};  // HeadDim^-0.5");
        w.Line();
        w.Line("/// <summary>The hyper-parameters as a runtime value (for checkpoints, config.json matching and tools).</summary>");
        w.Line("public static readonly global::Qwen3Gen.Models.ModelConfig HyperParameters = new()");
        w.Line("{");
        // Every row of this model: the constant where it has the property's type, else the value (a float constant's
        // property is the double the definition gave, so that the config reads back exactly).
        var line = "   ";
        foreach (var f in rows)
        {
            string item = $" {f.Name} = {(SameType(f) ? f.Name : Literal(f.Type, s.Get(f)))},";
            if (line.Length + item.Length > 120)
            {
                w.Line(line);
                line = "   ";
            }
            line += item;
        }
        w.Line(line);
        if (rope.Type == "linear")
            w.Line($"    RopeScaling = global::Qwen3Gen.Kernels.RopeScaling.Linear(factor: {Double(rope.Factor)}, originalMaxPositions: {Int(rope.OriginalMaxPositions)}),");
        else if (rope.Type == "yarn")
            w.Line($"    RopeScaling = global::Qwen3Gen.Kernels.RopeScaling.Yarn(factor: {Double(rope.Factor)}, originalMaxPositions: {Int(rope.OriginalMaxPositions)}, " +
                   $"betaFast: {Double(rope.BetaFast)}, betaSlow: {Double(rope.BetaSlow)}, attentionFactor: {Double(rope.AttentionFactor)}, " +
                   $"truncate: {(rope.Truncate ? "true" : "false")}),");
        w.Line("};");
        w.Line();
    }

    /// <summary>The table's rows this model has: every model's, and the MoE ones in a MoE model (RoPE scaling: above).</summary>
    private static IEnumerable<Field> Rows(ModelShape s) =>
        HyperParameters.All.Where(f => f.Scope == FieldScope.All || (f.Scope == FieldScope.Moe && s.IsMoe));

    private static bool SameType(Field f) => (f.Type, f.Constant) is (FieldType.Int, "int") or (FieldType.Double, "double") or (FieldType.Bool, "bool");

    /// <summary>A value as a C# literal of a constant type ("int", "double", "float", "bool").</summary>
    private static string Literal(string type, object value) => type switch
    {
        "int" => Int((int)value),
        "double" => Double((double)value),
        "float" => Float((double)value),
        "bool" => (bool)value ? "true" : "false",
        _ => throw new System.ArgumentException("No constant of type " + type, nameof(type)),
    };

    /// <summary>A value as a C# literal of a field's type (int arrays as collection expressions).</summary>
    private static string Literal(FieldType type, object value) => type switch
    {
        FieldType.Int => Int((int)value),
        FieldType.Double => Double((double)value),
        FieldType.Bool => (bool)value ? "true" : "false",
        FieldType.IntArray => "[" + string.Join(", ", (int[])value) + "]",
        _ => throw new System.ArgumentException("No literal for " + type, nameof(type)),
    };
}
