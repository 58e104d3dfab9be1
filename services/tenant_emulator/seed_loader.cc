#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "services/common/config_reader.h"
#include "services/tenant_emulator/seed.h"

namespace crosstenant::emulator {
namespace {

bool IsGuid(absl::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

bool IsLabel(absl::string_view text) {
  if (text.empty() || text.size() > 27) return false;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsUpn(absl::string_view upn) {
  const std::size_t at = upn.find('@');
  return at != absl::string_view::npos && at > 0 && at + 1 < upn.size() &&
         upn.find('@', at + 1) == absl::string_view::npos && upn.find(' ') == absl::string_view::npos;
}

void ReadOneDrive(ConfigReader& reader, OneDriveFacts* facts) {
  ConfigReader section = reader.Section("onedrive");
  section.Read("exists", &facts->exists);
  section.Read("size_bytes", &facts->size_bytes, 0, int64_t{1} << 50);
  section.Read("items", &facts->items, 0, int64_t{1} << 40);
  section.Read("read_only", &facts->read_only);
  section.Read("legal_hold", &facts->legal_hold);
  section.Read("longest_path", &facts->longest_path, 0, 100000);
  section.Read("reschedules", &facts->reschedules, 0, 100);
}

std::string ReadFileText(const std::string& path, bool* ok) {
  std::ifstream in(path);
  *ok = static_cast<bool>(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void ReadSettings(ConfigReader& reader, SeedSettings* settings) {
  ConfigReader s = reader.Section("settings");
  s.Read("token_lifetime", &settings->token_lifetime);
  s.Read("refresh_token_lifetime", &settings->refresh_token_lifetime);
  s.Read("device_code_lifetime", &settings->device_code_lifetime);
  s.Read("device_code_interval", &settings->device_code_interval);
  s.Read("dormant_period", &settings->dormant_period);
  s.Read("max_queued_per_geo", &settings->max_queued_per_geo, 1, 1000000);
  s.Read("max_onedrive_bytes", &settings->max_onedrive_bytes, 1, int64_t{1} << 56);
  s.Read("max_onedrive_items", &settings->max_onedrive_items, 1, int64_t{1} << 40);
  s.Read("max_path_length", &settings->max_path_length, 1, 100000);
  s.Read("users_page_size", &settings->users_page_size, 1, 999);
  ConfigReader phases = s.Section("move_durations");
  phases.Read("scheduled", &settings->scheduled_duration);
  phases.Read("ready_to_trigger", &settings->ready_duration);
  phases.Read("validation", &settings->validation_duration);
  phases.Read("backup", &settings->backup_duration);
  phases.Read("restore", &settings->restore_duration);
  phases.Read("cleanup", &settings->cleanup_duration);
  phases.Read("reschedule_delay", &settings->reschedule_delay);
  if (settings->token_lifetime < absl::Seconds(1)) s.AddError("token_lifetime", "must be at least 1s");
}

// Expands "user{n}@contoso.onmicrosoft.com" with n zero-padded to `width`.
std::string Expand(absl::string_view pattern, int n, int width) {
  char number[32];
  std::snprintf(number, sizeof(number), "%0*d", width, n);
  return absl::StrReplaceAll(pattern, {{"{n}", number}});
}

class TenantReader {
 public:
  TenantReader(ConfigReader& reader, const std::string& base_dir, SeedTenant* tenant)
      : reader_(reader), base_dir_(base_dir), tenant_(tenant) {}

  void Read() {
    reader_.Read("name", &tenant_->name);
    reader_.Read("id", &tenant_->id);
    reader_.Read("display_name", &tenant_->display_name);
    reader_.Read("initial_domain", &tenant_->initial_domain);
    reader_.Read("cloud", &tenant_->cloud);
    if (!IsLabel(tenant_->name)) {
      reader_.AddError("name", "required: letters and digits only, at most 27 (the SharePoint label, e.g. contoso)");
    }
    tenant_->name = absl::AsciiStrToLower(tenant_->name);
    if (tenant_->id.empty()) {
      tenant_->id = DerivedGuid("tenant", tenant_->name);
    } else if (!IsGuid(tenant_->id)) {
      reader_.AddError("id", "must be a GUID such as 7f1d1c1e-0000-4000-8000-000000000001");
    }
    tenant_->id = absl::AsciiStrToLower(tenant_->id);
    if (tenant_->display_name.empty()) tenant_->display_name = tenant_->name;
    if (tenant_->initial_domain.empty()) tenant_->initial_domain = absl::StrCat(tenant_->name, ".onmicrosoft.com");
    tenant_->initial_domain = absl::AsciiStrToLower(tenant_->initial_domain);
    if (tenant_->cloud != "global" && tenant_->cloud != "usgov" && tenant_->cloud != "usgovdod" &&
        tenant_->cloud != "china") {
      reader_.AddError("cloud", "must be one of global, usgov, usgovdod, china");
    }

    ConfigReader features = reader_.Section("features");
    features.Read("cross_tenant_move_enabled", &tenant_->features.cross_tenant_move_enabled);
    features.Read("customer_key", &tenant_->features.customer_key);
    features.Read("compatibility", &tenant_->features.compatibility);
    const std::string& c = tenant_->features.compatibility;
    if (c != "Compatible" && c != "Warning" && c != "Incompatible") {
      features.AddError("compatibility", "must be Compatible, Warning or Incompatible");
    }
    features.Read("compatible_after", &tenant_->features.compatible_after);

    ReadGeos();
    ReadApps();
    ReadAdmins();
    ReadUsers();
  }

 private:
  void ReadGeos() {
    std::set<std::string> locations;
    for (ConfigReader& item : reader_.Items("geos")) {
      SeedGeo geo;
      item.Read("location", &geo.location);
      item.Read("name", &geo.name);
      geo.location = absl::AsciiStrToUpper(geo.location);
      geo.name = absl::AsciiStrToLower(geo.name);
      if (geo.location.size() != 3)
        item.AddError("location", "required: a 3-letter data location code such as NAM or EUR");
      if (!IsLabel(geo.name)) item.AddError("name", "required: letters and digits only (e.g. contosoeur)");
      if (!locations.insert(geo.location).second) item.AddError("location", "another geo of this tenant has it");
      tenant_->geos.push_back(geo);
    }
    if (tenant_->geos.empty()) tenant_->geos.push_back({"NAM", tenant_->name});
    if (tenant_->geos.front().name != tenant_->name) {
      reader_.AddError("geos", "the first geo is the default geo and its name must be the tenant name");
    }
  }

  void ReadApps() {
    for (ConfigReader& item : reader_.Items("apps")) {
      SeedApp app;
      item.Read("client_id", &app.client_id);
      item.Read("display_name", &app.display_name);
      item.Read("secret", &app.secret);
      std::vector<std::string> certificates;
      std::string certificate;
      item.Read("certificate", &certificate);
      item.Read("certificates", &certificates);
      if (!certificate.empty()) certificates.insert(certificates.begin(), certificate);
      item.Read("application_permissions", &app.application_permissions);
      item.Read("delegated_permissions", &app.delegated_permissions);
      item.Read("public_client", &app.public_client);
      if (!IsGuid(app.client_id)) item.AddError("client_id", "required: a GUID");
      app.client_id = absl::AsciiStrToLower(app.client_id);
      for (const std::string& file : certificates) {
        const std::string full = std::filesystem::path(file).is_absolute() ? file : base_dir_ + "/" + file;
        bool ok = false;
        std::string pem = ReadFileText(full, &ok);
        if (!ok) {
          item.AddError(certificate.empty() ? "certificates" : "certificate",
                        absl::StrCat("cannot read certificate file ", full, " (run deploy/local/dev-certs.sh?)"));
        } else if (!absl::StrContains(pem, "-----BEGIN CERTIFICATE-----")) {
          item.AddError(certificate.empty() ? "certificates" : "certificate",
                        absl::StrCat(full, " holds no PEM certificate"));
        } else {
          app.certificate_pems.push_back(pem);
        }
      }
      for (ConfigReader& federated : item.Items("federated_credentials")) {
        SeedFederatedCredential credential;
        std::string key_file;
        federated.Read("issuer", &credential.issuer);
        federated.Read("subject", &credential.subject);
        federated.Read("audience", &credential.audience);
        federated.Read("key", &key_file);
        if (credential.issuer.empty()) federated.AddError("issuer", "required: the issuer URL of the external tokens");
        if (credential.subject.empty()) {
          federated.AddError("subject", "required, e.g. system:serviceaccount:crosstenant:tenant-connector");
        }
        const std::string full = std::filesystem::path(key_file).is_absolute() ? key_file : base_dir_ + "/" + key_file;
        bool ok = false;
        credential.key_pem = key_file.empty() ? "" : ReadFileText(full, &ok);
        if (!ok) {
          federated.AddError("key",
                             absl::StrCat("required: a readable PEM certificate or public key; cannot read ", full));
        }
        app.federated_credentials.push_back(std::move(credential));
      }
      if (!app.public_client && app.secret.empty() && app.certificate_pems.empty() && certificates.empty() &&
          app.federated_credentials.empty()) {
        item.AddError("client_id", "a confidential app needs a secret or a certificate (or set public_client: true)");
      }
      if (app.display_name.empty()) app.display_name = app.client_id;
      tenant_->apps.push_back(std::move(app));
    }
  }

  bool CheckUpn(ConfigReader& item, std::string& upn) {
    if (!IsUpn(upn)) {
      item.AddError("upn", "required: a user principal name such as alice@contoso.onmicrosoft.com");
      return false;
    }
    upn = absl::AsciiStrToLower(upn);
    if (!upns_.insert(upn).second) {
      item.AddError("upn", absl::StrCat("another user of this tenant already has ", upn));
      return false;
    }
    return true;
  }

  void CheckGeo(ConfigReader& item, std::string& geo) {
    if (geo.empty()) return;
    geo = absl::AsciiStrToUpper(geo);
    for (const SeedGeo& known : tenant_->geos) {
      if (known.location == geo) return;
    }
    item.AddError("geo", absl::StrCat("the tenant has no geo ", geo));
  }

  void ReadAdmins() {
    for (ConfigReader& item : reader_.Items("admins")) {
      SeedAdmin admin;
      std::vector<std::string> roles;
      item.Read("id", &admin.id);
      item.Read("upn", &admin.upn);
      item.Read("display_name", &admin.display_name);
      item.Read("password", &admin.password);
      item.Read("roles", &roles);
      item.Read("mfa_required", &admin.mfa_required);
      if (!CheckUpn(item, admin.upn)) continue;
      if (admin.password.empty()) item.AddError("password", "required");
      for (const std::string& role : roles) {
        std::string id = RoleTemplateId(role);
        if (id.empty()) {
          item.AddError("roles", absl::StrCat("unknown role '", role,
                                              "' (GlobalAdministrator, SharePointAdministrator, "
                                              "MigrationAdministrator, GlobalReader or a role template id)"));
        } else {
          admin.role_template_ids.push_back(id);
        }
      }
      if (admin.id.empty()) admin.id = DerivedGuid(tenant_->id, admin.upn);
      if (!IsGuid(admin.id)) item.AddError("id", "must be a GUID");
      if (admin.display_name.empty()) admin.display_name = admin.upn.substr(0, admin.upn.find('@'));
      tenant_->admins.push_back(std::move(admin));
    }
  }

  void ReadUsers() {
    for (ConfigReader& item : reader_.Items("users")) {
      SeedUser user;
      item.Read("id", &user.id);
      item.Read("upn", &user.upn);
      item.Read("display_name", &user.display_name);
      item.Read("geo", &user.geo);
      item.Read("licensed", &user.licensed);
      ReadOneDrive(item, &user.onedrive);
      // Apostrophes are legal in a UPN (the move refuses them); only the shape is checked here.
      if (!CheckUpn(item, user.upn)) continue;
      CheckGeo(item, user.geo);
      if (user.id.empty()) user.id = DerivedGuid(tenant_->id, user.upn);
      if (!IsGuid(user.id)) item.AddError("id", "must be a GUID");
      if (user.display_name.empty()) user.display_name = user.upn.substr(0, user.upn.find('@'));
      tenant_->users.push_back(std::move(user));
    }
    for (ConfigReader& item : reader_.Items("generate_users")) {
      int count = 0, start = 1, width = 1;
      std::string pattern, name_pattern = "User {n}";
      SeedUser model;
      item.Read("count", &count, 1, 1000000);
      item.Read("start", &start, 0, 100000000);
      item.Read("width", &width, 1, 12);
      item.Read("upn_pattern", &pattern);
      item.Read("display_name_pattern", &name_pattern);
      item.Read("geo", &model.geo);
      item.Read("licensed", &model.licensed);
      ReadOneDrive(item, &model.onedrive);
      CheckGeo(item, model.geo);
      if (count == 0) item.AddError("count", "required: how many users to generate");
      if (!absl::StrContains(pattern, "{n}") || !IsUpn(Expand(pattern, 1, 1))) {
        item.AddError("upn_pattern", "required: a UPN with {n} for the number, e.g. user{n}@contoso.onmicrosoft.com");
        continue;
      }
      for (int n = start; n < start + count; ++n) {
        SeedUser user = model;
        user.upn = absl::AsciiStrToLower(Expand(pattern, n, width));
        if (!upns_.insert(user.upn).second) {
          item.AddError("upn_pattern", absl::StrCat("generates ", user.upn, ", which another user already has"));
          break;
        }
        user.display_name = Expand(name_pattern, n, width);
        user.id = DerivedGuid(tenant_->id, user.upn);
        tenant_->users.push_back(std::move(user));
      }
    }
  }

  ConfigReader& reader_;
  const std::string& base_dir_;
  SeedTenant* tenant_;
  std::set<std::string> upns_;
};

}  // namespace

std::string DerivedGuid(absl::string_view a, absl::string_view b) {
  // Two FNV-1a passes with different offsets give 128 bits; stable across runs and platforms.
  auto fnv = [](absl::string_view x, absl::string_view y, uint64_t hash) {
    for (char c : x) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    hash = (hash ^ 0xff) * 1099511628211ull;
    for (char c : y) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    return hash;
  };
  const uint64_t high = fnv(a, b, 14695981039346656037ull);
  const uint64_t low = fnv(b, a, 1469598103934665603ull);
  char out[37];
  std::snprintf(out, sizeof(out), "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(high >> 32),
                static_cast<unsigned>((high >> 16) & 0xffff), static_cast<unsigned>(high & 0xfff),
                static_cast<unsigned>(0x8000 | ((low >> 48) & 0x3fff)),
                static_cast<unsigned long long>(low & 0xffffffffffffull));
  return out;
}

std::string RoleTemplateId(absl::string_view name_or_id) {
  const std::string key = absl::AsciiStrToLower(absl::StrReplaceAll(name_or_id, {{" ", ""}}));
  if (key == "globaladministrator" || key == "companyadministrator") return std::string(kGlobalAdministratorRole);
  if (key == "sharepointadministrator") return std::string(kSharePointAdministratorRole);
  if (key == "migrationadministrator" || key == "microsoft365migrationadministrator") {
    return std::string(kMigrationAdministratorRole);
  }
  if (key == "globalreader") return std::string(kGlobalReaderRole);
  if (IsGuid(key)) return key;
  return "";
}

std::string RoleDisplayName(absl::string_view template_id) {
  if (template_id == kGlobalAdministratorRole) return "Global Administrator";
  if (template_id == kSharePointAdministratorRole) return "SharePoint Administrator";
  if (template_id == kMigrationAdministratorRole) return "Microsoft 365 Migration Administrator";
  if (template_id == kGlobalReaderRole) return "Global Reader";
  return std::string(template_id);
}

absl::StatusOr<Seed> LoadSeedText(absl::string_view text, absl::string_view source_name, const std::string& base_dir) {
  absl::StatusOr<ConfigReader> parsed = ConfigReader::FromString(text, source_name);
  if (!parsed.ok()) return parsed.status();
  ConfigReader& reader = *parsed;
  Seed seed;
  seed.path = std::string(source_name);
  ReadSettings(reader, &seed.settings);
  std::set<std::string> names, ids, labels;
  for (ConfigReader& item : reader.Items("tenants")) {
    SeedTenant tenant;
    TenantReader(item, base_dir, &tenant).Read();
    if (!tenant.name.empty() && !names.insert(tenant.name).second) item.AddError("name", "another tenant has it");
    if (!ids.insert(tenant.id).second) item.AddError("id", "another tenant has it");
    for (const SeedGeo& geo : tenant.geos) {
      if (!labels.insert(geo.name).second && geo.name != tenant.name) {
        item.AddError("geos", absl::StrCat("the SharePoint name ", geo.name, " is used twice"));
      }
    }
    seed.tenants.push_back(std::move(tenant));
  }
  if (seed.tenants.empty()) reader.AddError("tenants", "required: at least one tenant");
  if (absl::Status status = reader.Finish(); !status.ok()) return status;
  return seed;
}

absl::StatusOr<Seed> LoadSeedFile(const std::string& path) {
  bool ok = false;
  std::string text = ReadFileText(path, &ok);
  if (!ok) return absl::InvalidArgumentError(absl::StrCat("cannot read seed file ", path));
  std::string base_dir = std::filesystem::absolute(path).parent_path().string();
  return LoadSeedText(text, path, base_dir);
}

}  // namespace crosstenant::emulator
