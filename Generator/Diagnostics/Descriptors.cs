using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using Qwen3Gen.Rules;

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
        Error("QG0001", "Heads must be a multiple of KvHeads", ShapeRules.HeadsNotMultipleOfKvHeads);

    public static readonly DiagnosticDescriptor OddHeadDim =
        Error("QG0002", "HeadDim must be even", ShapeRules.OddHeadDim);

    public static readonly DiagnosticDescriptor NotPositive =
        Error("QG0003", "Size must be positive", ShapeRules.NotPositive);

    public static readonly DiagnosticDescriptor NotPartial =
        Error("QG0004", "Model class must be partial", "Class '{0}' must be partial: the generator adds the model to it");

    public static readonly DiagnosticDescriptor HiddenNotMultipleOf16 =
        Warning("QG0005", "Hidden is not a multiple of 16", ShapeRules.HiddenNotMultipleOf16);

    public static readonly DiagnosticDescriptor NestedClass =
        Error("QG0006", "Model class must not be nested", "Class '{0}' is nested in '{1}': declare [Qwen3Model] classes directly in a namespace");

    public static readonly DiagnosticDescriptor GenericClass =
        Error("QG0007", "Model class must not be generic", "Class '{0}' has {1} type parameter(s): [Qwen3Model] classes cannot be generic");

    public static readonly DiagnosticDescriptor ConfigNotFound =
        Error("QG0008", "Config file not found", "Config file '{0}' is not among the {1} .json AdditionalFiles of this project; add it to the project file: <ItemGroup><AdditionalFiles Include=\"{0}\" /></ItemGroup>");

    public static readonly DiagnosticDescriptor ConfigUnreadable =
        Error("QG0009", "Config file unreadable", "Config file '{0}' could not be read");

    public static readonly DiagnosticDescriptor ConfigNotJson =
        Error("QG0010", "Config file is not valid JSON", "Config file '{0}' is not valid JSON: {1} at line {2}, column {3} (offset {4})");

    public static readonly DiagnosticDescriptor ConfigWrongModelType =
        Error("QG0011", "Config model_type is not Qwen3", ConfigFields.WrongModelType);

    public static readonly DiagnosticDescriptor ConfigMissingField =
        Error("QG0012", "Config field missing", ConfigFields.MissingField);

    public static readonly DiagnosticDescriptor ConfigInvalidField =
        Error("QG0013", "Config field has an invalid value", ConfigFields.InvalidField);

    public static readonly DiagnosticDescriptor UnsupportedFeature =
        Error("QG0014", "Unsupported model feature", ConfigFields.Unsupported);

    public static readonly DiagnosticDescriptor ConfigWithInlineValues =
        Error("QG0015", "Config and inline values both given", "Config = \"{0}\" cannot be combined with inline values ({1}): remove them, or remove Config");

    public static readonly DiagnosticDescriptor ConfigAmbiguous =
        Error("QG0016", "Config path matches several files", "Config file '{0}' matches {1} AdditionalFiles ({2}); give a longer path that names one");

    public static readonly DiagnosticDescriptor ExpertsPerTokenExceedsExperts =
        Error("QG0017", "ExpertsPerToken exceeds Experts", ShapeRules.ExpertsPerTokenExceedsExperts);

    public static readonly DiagnosticDescriptor MoeSizeNotPositive =
        Error("QG0018", "MoE size must be positive", ShapeRules.MoeSizeNotPositive);

    public static readonly DiagnosticDescriptor MlpOnlyLayerOutOfRange =
        Error("QG0019", "Dense-layer index out of range", ShapeRules.MlpOnlyLayerOutOfRange);

    public static readonly DiagnosticDescriptor NegativeExperts =
        Error("QG0020", "Experts must not be negative", ShapeRules.NegativeExperts);

    public static readonly DiagnosticDescriptor MoeFieldsWithoutExperts =
        Error("QG0021", "MoE fields given for a dense model", "{0} given but Experts is 0 (a dense model): set Experts, or remove them");

    public static readonly DiagnosticDescriptor NotFiniteOrOutOfRange =
        Error("QG0022", "Value must be a finite number in range", ShapeRules.NotFiniteOrOutOfRange);

    public static readonly DiagnosticDescriptor TensorTooLarge =
        Error("QG0023", "Tensor too large", ShapeRules.TensorTooLarge);

    public static readonly DiagnosticDescriptor HeadDimNotDerivable =
        Error("QG0024", "HeadDim cannot be derived", ShapeRules.HeadDimNotDerivable);

    public static readonly DiagnosticDescriptor TooManyLayers =
        Error("QG0025", "Too many layers", ShapeRules.TooManyLayers);

    public static readonly DiagnosticDescriptor ModelTooLarge =
        Error("QG0026", "Model too large", ShapeRules.ModelTooLarge);

    public static readonly DiagnosticDescriptor UnknownRopeType =
        Error("QG0027", "RoPE type not supported", RopeRules.UnknownRopeType);

    public static readonly DiagnosticDescriptor RopeFieldUnused =
        Error("QG0028", "RoPE scaling field without effect", RopeRules.RopeFieldUnused);

    public static readonly DiagnosticDescriptor RopeFactorMissing =
        Error("QG0029", "RoPE scaling factor missing", RopeRules.RopeFactorMissing);

    private static readonly Dictionary<string, DiagnosticDescriptor> All = new();

    static Descriptors()
    {
        foreach (var field in typeof(Descriptors).GetFields())
            if (field.GetValue(null) is DiagnosticDescriptor d) All[d.Id] = d;
    }

    public static DiagnosticDescriptor ById(string id) => All[id];
}
