/* SPDX-License-Identifier: GPL-3.0-or-later */
/* strings.c: every word of the page in Vietnamese, keyed by its English
 * msgid, in one table (so that moving them into po/vi.po of the gettext
 * domain ntm-gateway is a copy). Holds no logic beyond the lookup. */
#include <string.h>

#include "view.h"

static const char *const vi[][2] = {
    {" online now", " đang hoạt động"},
    {"Alert", "Cảnh báo"},
    {"Alerts of the last 7 days", "Cảnh báo trong 7 ngày qua"},
    {"Broadcast minutes", "Số phút phát thanh"},
    {"Broadcasts", "Số lượt phát thanh"},
    {"Cameras", "Camera"},
    {"Connection", "Kết nối"},
    {"Count", "Số lượng"},
    {"Day", "Ngày"},
    {"Detail", "Chi tiết"},
    {"Device", "Thiết bị"},
    {"Device broker (MQTT)", "Máy chủ nhận tin thiết bị (MQTT)"},
    {"Gateway", "Cổng"},
    {"Gateway of commune", "Cổng dữ liệu xã"},
    {"Latest examples (never their content)", "Ví dụ gần nhất (không hiện nội dung tin)"},
    {"Loudspeakers", "Loa"},
    {"Motion events", "Phát hiện chuyển động"},
    {"No alert.", "Không có cảnh báo."},
    {"No device.", "Không có thiết bị."},
    {"No message was rejected.", "Không có tin nhắn nào bị từ chối."},
    {"No uplink is configured: data is only kept here.",
     "Chưa cấu hình đường gửi lên: dữ liệu chỉ được lưu tại đây."},
    {"Numbers", "Số liệu"},
    {"Reason", "Lý do"},
    {"Rejected messages", "Tin nhắn bị từ chối"},
    {"Tamper events", "Camera bị can thiệp"},
    {"The buffer cannot be read", "Không đọc được bộ nhớ đệm"},
    {"The gateway program is not running: what follows is what it last stored.",
     "Chương trình cổng dữ liệu không chạy: dưới đây là những gì nó lưu lần cuối."},
    {"Time", "Thời gian"},
    {"Topic", "Chủ đề"},
    {"Traffic", "Lưu lượng"},
    {"Updated", "Cập nhật lúc"},
    {"Uplink", "Đường gửi lên"},
    {"Village", "Thôn"},
    {"Villages", "Các thôn"},
    {"Wi-Fi", "Wi-Fi"},
    {"Wi-Fi users", "Người dùng Wi-Fi"},
    {"a field has the wrong type", "một trường sai kiểu"},
    {"a field is missing", "thiếu một trường"},
    {"a value out of range", "giá trị ngoài phạm vi"},
    {"back online", "hoạt động trở lại"},
    {"batches waiting", "lô đang chờ gửi"},
    {"camera tampered with", "camera bị can thiệp"},
    {"connected", "đã kết nối"},
    {"days ago", "ngày trước"},
    {"device fault", "thiết bị lỗi"},
    {"device id used under another kind", "mã thiết bị trùng với loại khác"},
    {"dropped by the size cap", "bị bỏ do đầy bộ nhớ"},
    {"emergency broadcast not played", "bản tin khẩn cấp không được phát"},
    {"failing", "đang lỗi"},
    {"hours ago", "giờ trước"},
    {"idle", "chưa có gì để gửi"},
    {"kept in the buffer", "đang lưu trong bộ nhớ đệm"},
    {"last 7 days", "7 ngày qua"},
    {"last error", "lỗi gần nhất"},
    {"last successful delivery", "lần gửi thành công gần nhất"},
    {"malformed topic", "chủ đề sai dạng"},
    {"messages accepted", "tin nhắn đã nhận"},
    {"minutes ago", "phút trước"},
    {"never", "chưa bao giờ"},
    {"never reported", "chưa từng gửi dữ liệu"},
    {"not JSON", "không phải JSON"},
    {"not a JSON object", "không phải đối tượng JSON"},
    {"not connected", "mất kết nối"},
    {"now", "hiện tại"},
    {"offline since", "mất kết nối từ"},
    {"quarantined", "bị cách ly"},
    {"refreshes every", "tự làm mới sau mỗi"},
    {"seconds ago", "giây trước"},
    {"since", "từ"},
    {"storage error", "lỗi bộ nhớ lưu trữ"},
    {"today by hour", "hôm nay theo giờ"},
    {"too large", "quá lớn"},
    {"unknown channel", "kênh không hợp lệ"},
    {"unknown village", "thôn không có trong cấu hình"},
    {"uptime", "thời gian hoạt động"},
    {"video lost", "mất hình"},
    {"went offline", "mất kết nối"},
    {"working", "hoạt động tốt"},
};

const char *web_tr(int lang, const char *en)
{
    if (lang == NTM_LANG_EN)
        return en;
    for (size_t i = 0; i < sizeof vi / sizeof vi[0]; i++)
        if (strcmp(vi[i][0], en) == 0)
            return vi[i][1];
    return en;
}
