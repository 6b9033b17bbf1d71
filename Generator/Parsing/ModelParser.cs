using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Qwen3Gen.Generator.Diagnostics;
using Qwen3Gen.Generator.Model;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// A <see cref="DeclaredModel"/> (inline values or a config.json) -> a validated <see cref="ModelSpec"/>.
/// All decisions are made here; the emitter only writes. The steps:
/// 1. the class itself (partial, top-level, not generic);
/// 2. the source of the values: Config = "..." (<see cref="ConfigReader"/>) or inline (<see cref="InlineReader"/>), never both;
/// 3. the values (<see cref="ShapeValidator"/>). Any error means no spec (and no generated model).
/// </summary>
internal static class ModelParser
{
    public static ParseResult Parse(DeclaredModel definition, EquatableArray<ConfigFile> configs, CancellationToken ct)
    {
        var diagnostics = new List<DiagnosticInfo>();
        var at = definition.AttributeLocation?.ToLocation();
        var spec = ParseCore(definition, configs, at, diagnostics, ct);
        if (diagnostics.Exists(d => Descriptors.ById(d.Id).DefaultSeverity == DiagnosticSeverity.Error)) spec = null;
        return new ParseResult(spec, new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()));
    }

    private static ModelSpec? ParseCore(DeclaredModel definition, EquatableArray<ConfigFile> configs, Location? at,
                                        List<DiagnosticInfo> diagnostics, CancellationToken ct)
    {
        // 1. The class: the generator adds members to it, so it must be partial, top-level and not generic.
        var classAt = definition.ClassLocation?.ToLocation() ?? at;
        if (!definition.IsPartial)
            diagnostics.Add(DiagnosticInfo.Create(Descriptors.NotPartial, classAt, definition.ClassName));
        if (definition.ContainingType.Length > 0)
            diagnostics.Add(DiagnosticInfo.Create(Descriptors.NestedClass, classAt, definition.ClassName, definition.ContainingType));
        if (definition.TypeParameterCount > 0)
            diagnostics.Add(DiagnosticInfo.Create(Descriptors.GenericClass, classAt, definition.ClassName, definition.TypeParameterCount));
        if (diagnostics.Count > 0) return null;

        // 2. Where the values come from.
        var config = definition.Values.FirstOrDefault(v => v.Name == Fields.Config);
        ShapeDraft? draft;
        if (config is not null)
        {
            var inline = definition.Values.Where(v => v.Name != Fields.Config).Select(v => v.Name).ToArray();
            if (inline.Length > 0)
            {
                diagnostics.Add(DiagnosticInfo.Create(Descriptors.ConfigWithInlineValues, at, config.Value, string.Join(", ", inline)));
                return null;
            }
            draft = ConfigReader.Read(config.Value, config.Location?.ToLocation() ?? at, configs, diagnostics);
            if (draft is null) return null;
        }
        else
        {
            draft = InlineReader.Read(definition.Values, at);
        }
        ct.ThrowIfCancellationRequested();

        // 3. The values.
        var shape = ShapeValidator.Validate(draft, at, diagnostics);
        return new ModelSpec(definition.Namespace, definition.ClassName, definition.Accessibility, shape);
    }
}
