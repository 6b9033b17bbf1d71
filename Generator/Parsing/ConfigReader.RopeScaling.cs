using System;
using Qwen3Gen.Rules;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// config.json's RoPE scaling: <c>rope_scaling</c> (transformers 4.x) or <c>rope_parameters</c> (5.x), with
/// <c>rope_type</c> or the older <c>type</c>. "default" (or none) is no scaling; "linear" and "yarn" are read into a
/// <see cref="RopeDraft"/> (values checked by <see cref="RopeValidator"/>); other types are refused by name (QG0014).
/// When both objects describe a scaling they must describe the same one.
/// </summary>
internal sealed partial class ConfigReader
{
    private RopeDraft RopeScaling(JsonValue root)
    {
        var scaling = RopeObject(root, "rope_scaling");
        var parameters = RopeObject(root, "rope_parameters");
        if (scaling.Type != "default" && parameters.Type != "default" && scaling with { Object = "" } != parameters with { Object = "" })
            Invalid("rope_parameters", "a different scaling from rope_scaling", "the same scaling as rope_scaling (or only one of them)");
        return scaling.Type != "default" ? scaling : parameters;
    }

    private RopeDraft RopeObject(JsonValue root, string key)
    {
        var value = root[key];
        if (value is null || value.Kind == JsonKind.Null) return RopeDraft.Default;
        if (value.Kind != JsonKind.Object) { Invalid(key, value.Describe(), "an object or null"); return RopeDraft.Default; }
        var type = value["rope_type"] ?? value["type"];
        if (type is null || type.Kind == JsonKind.Null)
        {
            if (key == "rope_parameters") return RopeDraft.Default;    // v5 writes rope_type, but default is implied
            Invalid(key, "an object without rope_type", "\"rope_type\": \"default\", \"linear\" or \"yarn\"");
            return RopeDraft.Default;
        }
        if (type.Kind != JsonKind.String) { Invalid(key + ".rope_type", type.Describe(), "a string"); return RopeDraft.Default; }
        if (type.Text == "default") return RopeDraft.Default;
        if (type.Text != "linear" && type.Text != "yarn")
        {
            string why = RopeValidator.Why(type.Text);
            Unsupported(key + ".rope_type", type.Describe(),
                "Qwen3Gen implements \"default\", \"linear\" and \"yarn\"" + (why.Length > 0 ? why : ""));
            return RopeDraft.Default;
        }

        double? Number(string name)
        {
            var v = value[name];
            if (v is null || v.Kind == JsonKind.Null) return null;
            if (v.Kind == JsonKind.Number) return v.Number;
            Invalid(key + "." + name, v.Describe(), "a number");
            return null;
        }
        int? Integer(string name)
        {
            var v = value[name];
            if (v is null || v.Kind == JsonKind.Null) return null;
            if (v.Kind == JsonKind.Number && Math.Floor(v.Number) == v.Number && Math.Abs(v.Number) <= int.MaxValue) return (int)v.Number;
            Invalid(key + "." + name, v.Describe(), "an integer within int range");
            return null;
        }
        bool? Flag(string name)
        {
            var v = value[name];
            if (v is null || v.Kind == JsonKind.Null) return null;
            if (v.Kind == JsonKind.True) return true;
            if (v.Kind == JsonKind.False) return false;
            Invalid(key + "." + name, v.Describe(), "true or false");
            return null;
        }
        return new RopeDraft(type.Text, Number("factor"), Integer("original_max_position_embeddings"),
            Number("beta_fast"), Number("beta_slow"), Number("attention_factor"), Number("mscale"), Number("mscale_all_dim"),
            Flag("truncate"), key);
    }
}
