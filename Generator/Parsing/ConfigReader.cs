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
/// The fields are read by <see cref="ConfigFields"/> from the table (<see cref="HyperParameters"/>), as the runtime reads
/// a snapshot's config.json: missing optional fields take the defaults of transformers' Qwen3Config / Qwen3MoeConfig,
/// the sizes are required (Hugging Face's defaults for them describe some other model).
/// </summary>
internal sealed class ConfigReader
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
        // The fields and the unsupported features: the reader the runtime uses too (Rules/ConfigFields.cs).
        var problems = new List<ShapeProblem>();
        var values = ConfigFields.Read(root, _path, problems);
        foreach (var problem in problems) Fail(Descriptors.ById(problem.Id), problem.Args);
        if (values is null) return null;

        var ropeProblems = new List<ShapeProblem>();
        var draft = new ShapeDraft { FromConfig = true, LocationOf = _ => _at, Values = values, Rope = RopeRules.ReadConfig(root, _path, ropeProblems) };
        foreach (var problem in ropeProblems) Fail(Descriptors.ById(problem.Id), problem.Args);
        return _failed ? null : draft;
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
