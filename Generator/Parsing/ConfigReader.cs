using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using Qwen3Gen.Generator.Diagnostics;
using Qwen3Gen.Generator.Model;
using Qwen3Gen.Rules;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// [Qwen3Model(Config = "dir/config.json")] -> <see cref="ShapeDraft"/>: finds the AdditionalFiles item, parses
/// the JSON and reads the Hugging Face fields (spec §1, §2.5, §5, §8). Everything wrong with the file itself
/// (missing, unreadable, not JSON, wrong model_type, missing or mistyped field, unsupported feature) is reported
/// here; the values are checked by <see cref="ShapeValidator"/> like inline ones.
///
/// Missing optional fields take the defaults of transformers' Qwen3Config / Qwen3MoeConfig, so a config means
/// what it means to Hugging Face: head_dim = hidden_size / num_attention_heads, rope_theta 10000,
/// rms_norm_eps 1e-6, tie_word_embeddings false, max_position_embeddings 32768, norm_topk_prob false,
/// decoder_sparse_step 1, mlp_only_layers [], router_aux_loss_coef 0.001, output_router_logits false.
/// The sizes (and, for qwen3_moe, num_experts, num_experts_per_tok, moe_intermediate_size) are required:
/// Hugging Face's defaults for them describe some other model.
/// </summary>
internal sealed partial class ConfigReader
{
    private readonly string _path;                 // as written in Config = "..."
    private readonly Location? _at;                // the Config argument
    private readonly List<DiagnosticInfo> _diagnostics;
    private bool _failed;

    private ConfigReader(string path, Location? at, List<DiagnosticInfo> diagnostics)
    {
        _path = path; _at = at; _diagnostics = diagnostics;
    }

    public static ShapeDraft? Read(string path, Location? at, EquatableArray<ConfigFile> files, List<DiagnosticInfo> diagnostics)
    {
        var reader = new ConfigReader(path, at, diagnostics);
        var file = reader.Find(files);
        if (file is null) return null;
        if (file.Text is null) return reader.Fail(Descriptors.ConfigUnreadable, path);

        JsonValue root;
        try { root = Json.Parse(file.Text); }
        catch (JsonParseException e) { return reader.Fail(Descriptors.ConfigNotJson, path, e.Message, e.Line, e.Column, e.Offset); }
        if (root.Kind != JsonKind.Object)
            return reader.Fail(Descriptors.ConfigNotJson, path, "the document is " + root.Describe() + ", not an object", 1, 1, 0);
        return reader.ReadRoot(root);
    }

    /// <summary>The one AdditionalFiles item whose path ends with the Config path on a '/' boundary.</summary>
    private ConfigFile? Find(EquatableArray<ConfigFile> files)
    {
        string wanted = Normalise(_path);
        var matches = new List<ConfigFile>();
        foreach (var file in files)
        {
            string candidate = Normalise(file.Path);
            if (wanted.Length > 0 &&
                (string.Equals(candidate, wanted, StringComparison.OrdinalIgnoreCase) ||
                 candidate.EndsWith("/" + wanted, StringComparison.OrdinalIgnoreCase)))
                matches.Add(file);
        }
        if (matches.Count == 0) { Fail(Descriptors.ConfigNotFound, _path, files.Length); return null; }
        if (matches.Count > 1)
        {
            var paths = string.Join(", ", matches.Select(m => m.Path).OrderBy(p => p, StringComparer.Ordinal));
            Fail(Descriptors.ConfigAmbiguous, _path, matches.Count, paths);
            return null;
        }
        return matches[0];
    }

    private static string Normalise(string path)
    {
        string p = path.Trim().Replace('\\', '/');
        while (p.StartsWith("./", StringComparison.Ordinal)) p = p.Substring(2);
        return p;
    }

    private ShapeDraft? ReadRoot(JsonValue root)
    {
        string? modelType = String(root, "model_type", required: true);
        if (modelType is null) return null;
        if (modelType != "qwen3" && modelType != "qwen3_moe") return Fail(Descriptors.ConfigWrongModelType, _path, modelType);
        bool moe = modelType == "qwen3_moe";

        RejectUnsupported(root);

        var draft = new ShapeDraft
        {
            FromConfig = true,
            LocationOf = _ => _at,
            Vocab = Int(root, Fields.Vocab, required: true),
            Hidden = Int(root, Fields.Hidden, required: true),
            Layers = Int(root, Fields.Layers, required: true),
            Heads = Int(root, Fields.Heads, required: true),
            KvHeads = Int(root, Fields.KvHeads, required: true),
            Ffn = Int(root, Fields.Ffn, required: true),
            RopeTheta = RopeTheta(root),
            RmsNormEps = Double(root, Fields.RmsNormEps, 1e-6),
            TieEmbeddings = Bool(root, Fields.TieEmbeddings, false),
            MaxPositions = Int(root, Fields.MaxPositions, required: false, fallback: 32768),
        };
        draft.Rope = RopeScaling(root);
        if (IsPresent(root, Fields.JsonKey(Fields.HeadDim)))
            draft.HeadDim = Int(root, Fields.HeadDim, required: true);

        // A qwen3 (dense) config carries no MoE fields that Hugging Face would use: Qwen3Config ignores them.
        if (moe)
        {
            draft.Experts = Int(root, Fields.Experts, required: true);
            draft.ExpertsPerToken = Int(root, Fields.ExpertsPerToken, required: true);
            draft.ExpertFfn = Int(root, Fields.ExpertFfn, required: true);
            draft.NormTopKProb = Bool(root, Fields.NormTopKProb, false);
            draft.DecoderSparseStep = Int(root, Fields.DecoderSparseStep, required: false, fallback: 1);
            draft.MlpOnlyLayers = IntArray(root, Fields.MlpOnlyLayers);
            draft.RouterAuxLossCoef = Double(root, Fields.RouterAuxLossCoef, 0.001);
            draft.OutputRouterLogits = Bool(root, Fields.OutputRouterLogits, false);
        }
        return _failed ? null : draft;
    }

    /// <summary>
    /// Features Qwen3 does not use or Qwen3Gen does not implement are rejected by name, never ignored:
    /// sliding-window attention (spec §5), attention biases, activations other than SiLU (RoPE types: <see cref="RopeScaling"/>).
    /// </summary>
    private void RejectUnsupported(JsonValue root)
    {
        // Switches Python tests for truth: anything but false / null / absent turns the feature on there.
        foreach (var (key, why) in ShapeRules.FalseOnlyFlags)
        {
            var flag = root[key];
            if (flag is null || flag.Kind is JsonKind.False or JsonKind.Null) continue;
            if (flag.Kind == JsonKind.True) Unsupported(key, "true", why);
            else Invalid(key, flag.Describe(), "false or null (Python would read " + flag.Describe() + " as true: " + why + ")");
        }
        if (root["layer_types"] is { Kind: JsonKind.Array } layerTypes)
            foreach (var type in layerTypes.Items)
                if (type.Kind != JsonKind.String || type.Text != "full_attention")
                {
                    Unsupported("layer_types", "[... " + type.Describe() + " ...]", "only \"full_attention\" layers are implemented");
                    break;
                }
        if (root["hidden_act"] is { } act && act.Kind != JsonKind.Null && (act.Kind != JsonKind.String || act.Text != "silu"))
            Unsupported("hidden_act", act.Describe(), "the MLP implements SwiGLU with \"silu\" only");
    }

    /// <summary>rope_theta: top level (transformers 4.x) or inside rope_parameters (5.x); both must agree.</summary>
    private double RopeTheta(JsonValue root)
    {
        double top = Double(root, Fields.RopeTheta, 10000.0);
        var parameters = root["rope_parameters"];
        if (parameters is not { Kind: JsonKind.Object } || parameters["rope_theta"] is not { } nested) return top;
        if (nested.Kind != JsonKind.Number) { Invalid("rope_parameters.rope_theta", nested.Describe(), "a number"); return 0; }
        if (IsPresent(root, "rope_theta") && top != nested.Number)
            Invalid("rope_theta", root["rope_theta"]!.Describe(), "the same value as rope_parameters.rope_theta (" + nested.Text + ")");
        return nested.Number;
    }

    private static bool IsPresent(JsonValue root, string key) => root[key] is { } v && v.Kind != JsonKind.Null;

    // Typed field readers: a missing or null optional field is its default; a wrong type is QG0013.
    private int Int(JsonValue root, string property, bool required, int fallback = 0)
    {
        string key = Fields.JsonKey(property);
        var value = root[key];
        if (value is null || value.Kind == JsonKind.Null)
        {
            if (required) Fail(Descriptors.ConfigMissingField, _path, key);
            return fallback;
        }
        return ToInt(key, value);
    }

    private int ToInt(string key, JsonValue value)
    {
        if (value.Kind != JsonKind.Number || Math.Floor(value.Number) != value.Number)
        {
            Invalid(key, value.Describe(), "an integer");
            return 0;
        }
        if (value.Number < int.MinValue || value.Number > int.MaxValue)
        {
            Invalid(key, value.Describe(), "an integer within int range (at most 2147483647)");
            return 0;
        }
        return (int)value.Number;
    }

    private double Double(JsonValue root, string property, double fallback)
    {
        string key = Fields.JsonKey(property);
        var value = root[key];
        if (value is null || value.Kind == JsonKind.Null) return fallback;
        if (value.Kind == JsonKind.Number) return value.Number;
        Invalid(key, value.Describe(), "a number");
        return fallback;
    }

    private bool Bool(JsonValue root, string property, bool fallback)
    {
        string key = Fields.JsonKey(property);
        var value = root[key];
        if (value is null || value.Kind == JsonKind.Null) return fallback;
        if (value.Kind == JsonKind.True) return true;
        if (value.Kind == JsonKind.False) return false;
        Invalid(key, value.Describe(), "true or false");
        return fallback;
    }

    private int[] IntArray(JsonValue root, string property)
    {
        string key = Fields.JsonKey(property);
        var value = root[key];
        if (value is null || value.Kind == JsonKind.Null) return new int[0];   // HF: None -> []
        if (value.Kind != JsonKind.Array) { Invalid(key, value.Describe(), "an array of integers"); return new int[0]; }
        var items = new int[value.Items.Count];
        for (int i = 0; i < items.Length; i++)
            items[i] = ToInt(key + "[" + i.ToString(CultureInfo.InvariantCulture) + "]", value.Items[i]);
        return items;
    }

    private string? String(JsonValue root, string key, bool required)
    {
        var value = root[key];
        if (value is null || value.Kind == JsonKind.Null)
        {
            if (required) Fail(Descriptors.ConfigMissingField, _path, key);
            return null;
        }
        if (value.Kind == JsonKind.String) return value.Text;
        Invalid(key, value.Describe(), "a string");
        return null;
    }

    private void Invalid(string key, string found, string expected) => Fail(Descriptors.ConfigInvalidField, _path, key, found, expected);

    private void Unsupported(string key, string shown, string why) => Fail(Descriptors.UnsupportedFeature, _path, key, shown, why);

    private ShapeDraft? Fail(DiagnosticDescriptor descriptor, params object[] args)
    {
        _diagnostics.Add(DiagnosticInfo.Create(descriptor, _at, args));
        _failed = true;
        return null;
    }
}
