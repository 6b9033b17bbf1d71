using System.Text.Json;

namespace Qwen3Gen.Models;

/// <summary>Parsing of the small JSON files of a model folder (config.json, generation_config.json) with clear errors.</summary>
internal static class JsonFiles
{
    /// <summary>Parses <paramref name="json"/> and checks that it is an object; errors name <paramref name="source"/>.</summary>
    public static JsonDocument ParseObject(string json, string source)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new InvalidDataException($"{source} is not valid JSON: {e.Message}", e); }
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new InvalidDataException($"{source}: expected a JSON object.");
        }
        return document;
    }
}
