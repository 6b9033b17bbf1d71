using System.Collections.Generic;
using System.Globalization;
using Microsoft.CodeAnalysis;
using Qwen3Gen.Generator.Model;
using Qwen3Gen.Rules;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// Inline [Qwen3Model(...)] values -> <see cref="ShapeDraft"/>, one row of <see cref="HyperParameters.All"/> at a time:
/// a field not written takes the table's default (transformers' Qwen3Config one, the same a config.json gets); a missing
/// size stays 0 and the rules report it.
/// </summary>
internal static class InlineReader
{
    public static ShapeDraft Read(EquatableArray<NamedValue> values, Location? attribute)
    {
        var byName = new Dictionary<string, NamedValue>();
        foreach (var value in values) byName[value.Name] = value;

        var draft = new ShapeDraft
        {
            FromConfig = false,
            LocationOf = name => byName.TryGetValue(name, out var x) && x.Location is not null ? x.Location.ToLocation() : attribute,
        };
        foreach (var field in HyperParameters.All)
        {
            if (field.Set is null) continue;                       // RoPE scaling: below
            if (byName.TryGetValue(field.Name, out var given) && Value(field.Type, given) is { } value) field.Set(draft.Values, value);
            else HyperParameters.ApplyDefault(draft.Values, field);
        }

        double? OptDbl(string name) => byName.TryGetValue(name, out var x) ? Value(FieldType.Double, x) as double? : null;
        draft.Rope = new RopeDraft(
            byName.TryGetValue(Fields.RopeType, out var type) && type.Kind == NamedValue.KindString ? type.Value : "default",
            OptDbl(Fields.RopeFactor),
            byName.TryGetValue(Fields.RopeOriginalMaxPositions, out var original) ? Value(FieldType.Int, original) as int? ?? 0 : null,
            OptDbl(Fields.RopeBetaFast), OptDbl(Fields.RopeBetaSlow), OptDbl(Fields.RopeAttentionFactor),
            OptDbl(Fields.RopeMscale), OptDbl(Fields.RopeMscaleAllDim),
            byName.TryGetValue(Fields.RopeTruncate, out var truncate) ? Value(FieldType.Bool, truncate) as bool? ?? true : null);
        foreach (var name in byName.Keys) draft.Given.Add(name);
        return draft;
    }

    /// <summary>An attribute argument as a field's type (the compiler has checked the C# type; an int converts to double).</summary>
    private static object? Value(FieldType type, NamedValue x) => type switch
    {
        FieldType.Int when x.Kind == NamedValue.KindInt => int.Parse(x.Value, CultureInfo.InvariantCulture),
        FieldType.Double when x.Kind is NamedValue.KindDouble or NamedValue.KindInt => double.Parse(x.Value, NumberStyles.Float, CultureInfo.InvariantCulture),
        FieldType.Bool when x.Kind == NamedValue.KindBool => x.Value == "true",
        FieldType.IntArray when x.Kind == NamedValue.KindIntArray => x.IntArray.AsSpan().ToArray(),
        FieldType.String when x.Kind == NamedValue.KindString => x.Value,
        _ => null,
    };
}
