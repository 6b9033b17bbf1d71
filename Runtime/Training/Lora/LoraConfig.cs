using System.Text.Json;
using System.Text.Json.Nodes;

namespace Qwen3Gen.Training.Lora;

/// <summary>
/// A LoRA adapter's settings as PEFT's <c>LoraConfig</c> names them: rank <c>r</c>, <c>lora_alpha</c> (the update is
/// scaled by alpha / r), <c>target_modules</c> (projection names: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj,
/// down_proj). No dropout, no bias, no rank-stabilised scaling. Read and written as PEFT's adapter_config.json.
/// </summary>
public sealed record LoraConfig
{
    public const string FileName = "adapter_config.json";

    /// <summary>The attention and MLP projections of a dense Qwen3 layer.</summary>
    public static IReadOnlyList<string> AllProjections { get; } = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    public int Rank { get; init; } = 16;

    public double Alpha { get; init; } = 32;

    public IReadOnlyList<string> TargetModules { get; init; } = AllProjections;

    /// <summary>base_model_name_or_path: the model the adapter was trained on (informational).</summary>
    public string? BaseModel { get; init; }

    /// <summary>alpha / r: the factor of B·A in W + (alpha / r)·B·A.</summary>
    public float Scaling => (float)(Alpha / Rank);

    public void Validate()
    {
        if (Rank < 1) throw new ArgumentException($"LoRA rank ({Rank}) must be at least 1.");
        if (!(Alpha > 0) || double.IsInfinity(Alpha)) throw new ArgumentException($"LoRA alpha ({Alpha}) must be a positive number.");
        if (TargetModules.Count == 0) throw new ArgumentException("LoRA needs at least one target module.");
        foreach (var m in TargetModules)
            if (!AllProjections.Contains(m))
                throw new ArgumentException($"LoRA target module '{m}' is not one of {string.Join(", ", AllProjections)}.");
    }

    /// <summary>PEFT's adapter_config.json.</summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(),
            ["base_model_name_or_path"] = BaseModel,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["lora_alpha"] = Alpha,
            ["lora_dropout"] = 0.0,
            ["modules_to_save"] = null,
            ["peft_type"] = "LORA",
            ["r"] = Rank,
            ["rank_pattern"] = new JsonObject(),
            ["target_modules"] = new JsonArray(TargetModules.Select(m => (JsonNode?)m).ToArray()),
            ["task_type"] = "CAUSAL_LM",
            ["use_dora"] = false,
            ["use_rslora"] = false,
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>Reads adapter_config.json; refuses what this runtime does not implement (naming the field).</summary>
    public static LoraConfig FromJson(string json, string source)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(json); }
        catch (JsonException e) { throw new InvalidDataException($"{source} is not valid JSON: {e.Message}", e); }
        if (root is not JsonObject o) throw new InvalidDataException($"{source}: expected a JSON object.");
        string Text(string key) => o[key]?.GetValueKind() == JsonValueKind.String ? o[key]!.GetValue<string>() : "";
        if (Text("peft_type") != "LORA") throw new InvalidDataException($"{source}: peft_type '{Text("peft_type")}' is not LORA.");
        if (o["use_dora"]?.GetValueKind() == JsonValueKind.True) throw new InvalidDataException($"{source}: use_dora is not supported.");
        if (o["use_rslora"]?.GetValueKind() == JsonValueKind.True) throw new InvalidDataException($"{source}: use_rslora is not supported.");
        if (o["bias"] is JsonNode bias && bias.GetValueKind() == JsonValueKind.String && bias.GetValue<string>() != "none")
            throw new InvalidDataException($"{source}: bias '{bias.GetValue<string>()}' is not supported (only \"none\").");
        if (o["rank_pattern"] is JsonObject rp && rp.Count > 0) throw new InvalidDataException($"{source}: rank_pattern is not supported.");
        if (o["alpha_pattern"] is JsonObject ap && ap.Count > 0) throw new InvalidDataException($"{source}: alpha_pattern is not supported.");
        if (o["r"] is not JsonNode r || r.GetValueKind() != JsonValueKind.Number) throw new InvalidDataException($"{source}: r is missing.");
        if (o["lora_alpha"] is not JsonNode alpha || alpha.GetValueKind() != JsonValueKind.Number) throw new InvalidDataException($"{source}: lora_alpha is missing.");
        List<string> targets = o["target_modules"] switch
        {
            JsonArray a => a.Select(n => n?.GetValue<string>() ?? "").ToList(),
            JsonNode n when n.GetValueKind() == JsonValueKind.String => [n.GetValue<string>()],
            _ => throw new InvalidDataException($"{source}: target_modules must be a list of module names."),
        };
        var config = new LoraConfig { Rank = r.GetValue<int>(), Alpha = alpha.GetValue<double>(), TargetModules = targets, BaseModel = Text("base_model_name_or_path") };
        try { config.Validate(); }
        catch (ArgumentException e) { throw new InvalidDataException($"{source}: {e.Message}", e); }
        return config;
    }
}
