// Shared source: compiled into the generator (a [Qwen3Model(Config = ...)] file, QG diagnostics) and, as a linked file,
// into the runtime (a snapshot's or checkpoint's config.json): one reader, so both accept and refuse the same files with
// the same messages. Plain C# only (the generator targets netstandard2.0; Json.cs is the shared parser).
using System;
using System.Collections.Generic;
using System.Globalization;

namespace Qwen3Gen.Rules;

/// <summary>
/// A Hugging Face config.json object -> <see cref="ShapeValues"/>, driven by <see cref="HyperParameters.All"/>: each row's
/// key, JSON type, scope (MoE fields only for model_type qwen3_moe) and default (transformers' Qwen3Config /
/// Qwen3MoeConfig; an absent or null field is its default; a required one missing is QG0012). Features Qwen3Gen does not
/// implement are refused by name (QG0014), never ignored. RoPE scaling objects are read by the RoPE readers.
/// The values themselves are checked afterwards by <see cref="ShapeRules.Check"/>.
/// </summary>
internal static class ConfigFields
{
    // Messages (the generator's descriptors use the same strings); {0} is the config file.
    public const string WrongModelTypeId = "QG0011", MissingFieldId = "QG0012", InvalidFieldId = "QG0013", UnsupportedId = "QG0014";
    public const string WrongModelType = "Config file '{0}' has model_type '{1}'; Qwen3Gen reads 'qwen3' and 'qwen3_moe'";
    public const string MissingField = "Config file '{0}' has no '{1}' field, which is required";
    public const string InvalidField = "Config file '{0}': '{1}' is {2}; expected {3}";
    public const string Unsupported = "Config file '{0}': {1} = {2} is not supported: {3}";

    /// <summary>
    /// Reads <paramref name="root"/> (the file's top-level object) into values; every problem goes to
    /// <paramref name="problems"/>. Returns null when model_type is missing or not Qwen3's.
    /// </summary>
    public static ShapeValues? Read(JsonValue root, string path, List<ShapeProblem> problems)
    {
        void Report(string id, string format, params object[] args) => problems.Add(new ShapeProblem(id, null, format, Prepend(path, args)));
        void Invalid(string key, string found, string expected) => Report(InvalidFieldId, InvalidField, key, found, expected);

        var modelType = root["model_type"];
        if (modelType is null || modelType.Kind == JsonKind.Null) { Report(MissingFieldId, MissingField, "model_type"); return null; }
        if (modelType.Kind != JsonKind.String) { Invalid("model_type", modelType.Describe(), "a string"); return null; }
        if (modelType.Text != "qwen3" && modelType.Text != "qwen3_moe") { Report(WrongModelTypeId, WrongModelType, modelType.Text); return null; }
        bool moe = modelType.Text == "qwen3_moe";

        RejectUnsupported(root, path, problems);

        var values = new ShapeValues { NameOf = HyperParameters.JsonKey };
        foreach (var field in HyperParameters.All)
        {
            if (field.Scope == FieldScope.Rope || field.Set is null) continue;
            var value = field.Scope == FieldScope.Moe && !moe ? null : root[field.Key];
            if (value is null || value.Kind == JsonKind.Null)
            {
                if (field.Required && (field.Scope == FieldScope.All || moe)) Report(MissingFieldId, MissingField, field.Key);
                HyperParameters.ApplyDefault(values, field);
                continue;
            }
            if (Convert(field.Type, field.Key, value, Invalid) is { } converted) field.Set(values, converted);
            else HyperParameters.ApplyDefault(values, field);
        }
        values.RopeTheta = RopeTheta(root, values.RopeTheta, Invalid);
        return values;
    }

    /// <summary>A JSON value as a field's type, or null after reporting it as invalid.</summary>
    private static object? Convert(FieldType type, string key, JsonValue value, Action<string, string, string> invalid)
    {
        switch (type)
        {
            case FieldType.Int:
                return ToInt(key, value, invalid);
            case FieldType.Double:
                if (value.Kind == JsonKind.Number) return value.Number;
                invalid(key, value.Describe(), "a number");
                return null;
            case FieldType.Bool:
                if (value.Kind == JsonKind.True) return true;
                if (value.Kind == JsonKind.False) return false;
                invalid(key, value.Describe(), "true or false");
                return null;
            case FieldType.IntArray:
                if (value.Kind != JsonKind.Array) { invalid(key, value.Describe(), "an array of integers"); return null; }
                var items = new int[value.Items.Count];
                for (int i = 0; i < items.Length; i++)
                    items[i] = ToInt(key + "[" + i.ToString(CultureInfo.InvariantCulture) + "]", value.Items[i], invalid) is int item ? item : 0;
                return items;
            default:
                if (value.Kind == JsonKind.String) return value.Text;
                invalid(key, value.Describe(), "a string");
                return null;
        }
    }

    private static object? ToInt(string key, JsonValue value, Action<string, string, string> invalid)
    {
        if (value.Kind != JsonKind.Number || Math.Floor(value.Number) != value.Number)
        {
            invalid(key, value.Describe(), "an integer");
            return null;
        }
        if (value.Number < int.MinValue || value.Number > int.MaxValue)
        {
            invalid(key, value.Describe(), "an integer within int range (at most 2147483647)");
            return null;
        }
        return (int)value.Number;
    }

    /// <summary>rope_theta: top level (transformers 4.x) or inside rope_parameters (5.x); both must agree.</summary>
    private static double RopeTheta(JsonValue root, double top, Action<string, string, string> invalid)
    {
        var parameters = root["rope_parameters"];
        if (parameters is not { Kind: JsonKind.Object } || parameters["rope_theta"] is not { } nested || nested.Kind == JsonKind.Null) return top;
        if (nested.Kind != JsonKind.Number) { invalid("rope_parameters.rope_theta", nested.Describe(), "a number"); return top; }
        if (root["rope_theta"] is { Kind: JsonKind.Number } given && given.Number != nested.Number)
            invalid("rope_theta", given.Describe(), "the same value as rope_parameters.rope_theta (" + nested.Text + ")");
        return nested.Number;
    }

    /// <summary>
    /// Features Qwen3 does not use or Qwen3Gen does not implement, refused by name (QG0014): sliding-window attention,
    /// attention and MLP biases (<see cref="ShapeRules.FalseOnlyFlags"/>), layer types other than full attention,
    /// activations other than SiLU. RoPE types other than default, linear and yarn: the RoPE readers.
    /// </summary>
    public static void RejectUnsupported(JsonValue root, string path, List<ShapeProblem> problems)
    {
        void Report(string id, string format, params object[] args) => problems.Add(new ShapeProblem(id, null, format, Prepend(path, args)));

        // Switches Python tests for truth: anything but false / null / absent turns the feature on there.
        foreach (var (key, why) in ShapeRules.FalseOnlyFlags)
        {
            var flag = root[key];
            if (flag is null || flag.Kind is JsonKind.False or JsonKind.Null) continue;
            if (flag.Kind == JsonKind.True) Report(UnsupportedId, Unsupported, key, "true", why);
            else Report(InvalidFieldId, InvalidField, key, flag.Describe(), "false or null (Python would read " + flag.Describe() + " as true: " + why + ")");
        }
        if (root["layer_types"] is { Kind: JsonKind.Array } layerTypes)
            foreach (var type in layerTypes.Items)
                if (type.Kind != JsonKind.String || type.Text != "full_attention")
                {
                    Report(UnsupportedId, Unsupported, "layer_types", "[... " + type.Describe() + " ...]", "only \"full_attention\" layers are implemented");
                    break;
                }
        if (root["hidden_act"] is { } act && act.Kind != JsonKind.Null && (act.Kind != JsonKind.String || act.Text != "silu"))
            Report(UnsupportedId, Unsupported, "hidden_act", act.Describe(), "the MLP implements SwiGLU with \"silu\" only");
    }

    private static object[] Prepend(string path, object[] args)
    {
        var all = new object[args.Length + 1];
        all[0] = path;
        Array.Copy(args, 0, all, 1, args.Length);
        return all;
    }
}
