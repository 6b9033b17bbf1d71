using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace Qwen3Gen.Generator.Diagnostics;

/// <summary>
/// Every diagnostic the generator reports. Ids are stable: never renumbered or reused
/// (AnalyzerReleases.*.md lists them; docs/diagnostics/QGxxxx.md explains each).
/// </summary>
internal static class Descriptors
{
    private const string Category = "Qwen3Gen";
    private const string HelpBase = "https://github.com/qwen3gen/qwen3gen/blob/main/docs/diagnostics/";

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: HelpBase + id + ".md");

    private static DiagnosticDescriptor Warning(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Warning, isEnabledByDefault: true, helpLinkUri: HelpBase + id + ".md");

    public static readonly DiagnosticDescriptor HeadsNotMultipleOfKvHeads =
        Error("QG0001", "Heads must be a multiple of KvHeads", "Heads ({0}) must be a multiple of KvHeads ({1})");

    public static readonly DiagnosticDescriptor OddHeadDim =
        Error("QG0002", "HeadDim must be even", "HeadDim ({0}) must be even: RoPE rotates pairs of dimensions");

    public static readonly DiagnosticDescriptor NotPositive =
        Error("QG0003", "Size must be positive", "{0} ({1}) must be positive");

    public static readonly DiagnosticDescriptor NotPartial =
        Error("QG0004", "Model class must be partial", "Class '{0}' must be partial: the generator adds the model to it");

    private static readonly Dictionary<string, DiagnosticDescriptor> All = new();

    static Descriptors()
    {
        foreach (var field in typeof(Descriptors).GetFields())
            if (field.GetValue(null) is DiagnosticDescriptor d) All[d.Id] = d;
    }

    public static DiagnosticDescriptor ById(string id) => All[id];
}
